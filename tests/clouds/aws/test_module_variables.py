"""The modules' variable validations, evaluated by real Terraform (1.11.4 and 1.0.3).

Planning the modules needs the AWS provider, which cannot be downloaded here; their
``variables.tf`` alone needs no provider at all, so it is planned on its own: Terraform then
runs every validation block exactly as it would for a caller of the module.
"""

from __future__ import annotations

from pathlib import Path

from tests.clouds.module_variables import KEY, Bad, Good, variable_tests

MODULES = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "aws"
GOOD: Good = {
    "network": {"name": "cml-t1", "ssh_cidrs": ["203.0.113.9/32", "2001:db8::7/128"]},
    "gpu-runner": {
        "name": "cml-t1",
        "instance_type": "g4dn.xlarge",
        "subnet_id": "subnet-0123456789abcdef0",
        "security_group_ids": ["sg-0123456789abcdef0"],
        "ssh_public_key": KEY,
        "stack_id": "cml-t1",
        "spot": True,
        "spot_max_price": "0.35",
        "expires_at": "2026-11-27T12:00:00Z",
    },
}
BAD: Bad = {
    "network": (
        {
            "name": "bad_name",
            "ssh_cidrs": ["0.0.0.0/0", "my-laptop"],
            "vpc_id": "vpc-nope",
            "ssh_port": 70000,
            "egress_ports": [443, 0],
        },
        [
            "The name must be",
            "Every ssh_cidrs entry must be a CIDR block",
            "set allow_world_ssh = true if you really mean it",
            "The vpc_id must look like",
            "The ssh_port must be an integer",
            "Every egress_ports entry must be",
        ],
    ),
    "gpu-runner": (
        {
            **GOOD["gpu-runner"],
            "instance_type": "g4dn xlarge",
            "security_group_ids": [],
            "ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
            "ami_family": "windows",
            "spot_max_price": "cheap",
            "root_volume_size_gb": 4,
            "expires_at": "tomorrow",
        },
        [
            "The instance_type must look like",
            "Give at least one security group",
            "The ssh_public_key must be one OpenSSH public key line",
            "The ami_family must be one of",
            "The spot_max_price must be a positive decimal",
            "The root_volume_size_gb must be an integer from 8",
            "The expires_at must be an RFC 3339 timestamp",
        ],
    ),
}


(
    test_good_values_pass,
    test_bad_values_are_refused,
    test_world_ssh_needs_the_explicit_flag,
    test_modules_are_terraform_fmt_clean,
) = variable_tests(MODULES, GOOD, BAD)
