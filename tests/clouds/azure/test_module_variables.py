"""The Azure modules' variable validations, evaluated by real Terraform (1.11.4 and 1.0.3).

Planning the modules needs the azurerm provider, which cannot be downloaded here; their
``variables.tf`` alone needs no provider, so it is planned on its own and Terraform runs
every validation block as it would for a caller of the module.
"""

from __future__ import annotations

from pathlib import Path

from tests.clouds.module_variables import KEY, Bad, Good, variable_tests

MODULES = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "azure"
SUB = "00000000-0000-4000-8000-0000000000a2"
GOOD: Good = {
    "network": {
        "name": "cml-t1",
        "location": "westus2",
        "ssh_cidrs": ["203.0.113.9/32", "2001:db8::7/128"],
        "subnet_id": f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/"
        "virtualNetworks/v/subnets/s",
    },
    "gpu-runner": {
        "name": "cml-t1",
        "resource_group_name": "cml-t1",
        "resource_group_id": f"/subscriptions/{SUB}/resourceGroups/cml-t1",
        "location": "westus2",
        "vm_size": "Standard_NC4as_T4_v3",
        "subnet_id": "x",
        "network_security_group_id": "y",
        "ssh_public_key": KEY,
        "stack_id": "cml-t1",
        "spot": True,
        "max_bid_price": 0.35,
        "expires_at": "2026-11-27T12:00:00Z",
        "source_image_id": f"/subscriptions/{SUB}/resourceGroups/img/providers/"
        "Microsoft.Compute/galleries/g/images/cml/versions/1.0.0",
        "user_assigned_identity_ids": [
            f"/subscriptions/{SUB}/resourceGroups/id/providers/Microsoft.ManagedIdentity/"
            "userAssignedIdentities/trainer"
        ],
    },
}
BAD: Bad = {
    "network": (
        {
            "name": "Bad_Name",
            "location": "West US 2",
            "ssh_cidrs": ["0.0.0.0/0", "my-laptop", "*"],
            "subnet_id": "subnet-0123",
            "ssh_port": 70000,
            "egress_ports": [443, 0],
        },
        [
            "The name must be 2-63 lowercase",
            "The location must be an Azure location name",
            "Every ssh_cidrs entry must be a CIDR block",
            "set allow_world_ssh = true if you really mean it",
            "The subnet_id must be a subnet's resource id",
            "The ssh_port must be an integer",
            "Every egress_ports entry must be",
        ],
    ),
    "gpu-runner": (
        {
            **GOOD["gpu-runner"],
            "vm_size": "g4dn.xlarge",
            "resource_group_id": "cml-t1",
            "ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
            "admin_username": "root",
            "os_disk_size_gb": 20,
            "os_disk_type": "gp3",
            "max_bid_price": 0,
            "expires_at": "tomorrow",
            "source_image_id": "ami-0123",
            "user_assigned_identity_ids": ["trainer"],
        },
        [
            "The vm_size must look like Standard_NC4as_T4_v3",
            "The resource_group_id must look like",
            "The ssh_public_key must be one OpenSSH public key line",
            "The admin_username must be a lowercase Linux user name",
            "The os_disk_size_gb must be an integer from 30",
            "The os_disk_type must be one of",
            "The max_bid_price must be -1 or a positive price",
            "The expires_at must be an RFC 3339 timestamp",
            "The source_image_id must be the resource id",
            "Every user_assigned_identity_ids entry must be",
        ],
    ),
}


(
    test_good_values_pass,
    test_bad_values_are_refused,
    test_world_ssh_needs_the_explicit_flag,
    test_modules_are_terraform_fmt_clean,
) = variable_tests(MODULES, GOOD, BAD)
