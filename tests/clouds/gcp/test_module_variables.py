"""The GCP modules' variable validations, evaluated by real Terraform (1.11.4 and 1.0.3).

No Google provider binary exists here, so only each module's ``variables.tf`` is planned: that
needs no provider, and Terraform runs every validation block exactly as for a caller.
"""

from __future__ import annotations

from pathlib import Path

from tests.clouds.module_variables import KEY, Bad, Good, variable_tests

MODULES = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "gcp"
GOOD: Good = {
    "network": {"name": "cml-t1", "ssh_cidrs": ["203.0.113.9/32", "2001:db8::7/128"]},
    "gpu-runner": {
        "name": "cml-t1",
        "zone": "us-west1-b",
        "machine_type": "n1-standard-4",
        "gpu_type": "nvidia-tesla-t4",
        "gpu_count": 1,
        "network_tags": ["cmlinfra-cml-t1"],
        "ssh_public_key": KEY,
        "stack_id": "cml-t1",
        "spot": True,
        "expires_at": "1795435200",
        "self_delete_role": "projects/my-project/roles/cmlinfraSelfDelete",
        "service_account_email": "ml-jobs@my-project.iam.gserviceaccount.com",
        "labels": {"team": "ml", "cmlinfra-role": "runner"},
    },
}
BAD: Bad = {
    "network": (
        {
            "name": "Bad_Name",
            "ssh_cidrs": ["0.0.0.0/0", "my-laptop"],
            "network": "projects/p/networks/x y",
            "subnetwork": "a/b",
            "ssh_port": 70000,
            "egress_ports": [443, 0],
        },
        [
            "The name must be 1-50 lowercase",
            "Every ssh_cidrs entry must be a CIDR block",
            "set allow_world_ssh = true if you really mean it",
            "The network must be a network name",
            "The subnetwork must be a name",
            "The ssh_port must be an integer",
            "The egress_ports must be a non-empty list",
        ],
    ),
    "gpu-runner": (
        {
            **GOOD["gpu-runner"],
            "zone": "us-west1",
            "machine_type": "n1 standard",
            "gpu_type": "tesla-t4",
            "gpu_count": 3,
            "network_tags": [],
            "ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
            "boot_disk_size_gb": 4,
            "max_run_duration_seconds": 60,
            "service_account_email": "123456789-compute@developer.gserviceaccount.com",
            "self_delete_role": "roles/compute.instanceAdmin.v1",
            "expires_at": "2026-11-27T12:00:00Z",
            "labels": {"Team": "ML"},
        },
        [
            "The zone must look like us-west1-b",
            "The machine_type must look like",
            "The gpu_type must be an accelerator type",
            "The gpu_count must be 0, 1, 2, 4 or 8",
            "Give at least the network module's target_tag",
            "The ssh_public_key must be one OpenSSH public key line",
            "The boot_disk_size_gb must be an integer from 10",
            "The max_run_duration_seconds must be an integer from 600",
            "not the Compute Engine default one",
            "The self_delete_role must be a custom role id",
            "The expires_at must be a Unix time",
            "Label keys must be",
        ],
    ),
}


(
    test_good_values_pass,
    test_bad_values_are_refused,
    test_world_ssh_needs_the_explicit_flag,
    test_modules_are_terraform_fmt_clean,
) = variable_tests(MODULES, GOOD, BAD)
