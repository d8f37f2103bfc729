"""The Azure modules' variable validations, evaluated by real Terraform (1.11.4 and 1.0.3).

Planning the modules needs the azurerm provider, which cannot be downloaded here; their
``variables.tf`` alone needs no provider, so it is planned on its own and Terraform runs
every validation block as it would for a caller of the module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.terraform_bins import TerraformBinary

MODULES = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "azure"
SUB = "00000000-0000-4000-8000-0000000000a2"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"
GOOD: dict[str, dict[str, Any]] = {
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
BAD: dict[str, tuple[dict[str, Any], list[str]]] = {
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


def plan(tf: TerraformBinary, module: str, values: dict[str, Any], work: Path) -> str:
    """``terraform plan`` of the module's variables.tf alone; returns the combined output."""
    shutil.copy(MODULES / module / "variables.tf", work / "variables.tf")
    (work / "values.tfvars.json").write_text(json.dumps(values))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TF_IN_AUTOMATION": "1",
           "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"}  # fmt: skip
    init = subprocess.run(
        [str(tf.path), "init", "-input=false", "-backend=false"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    result = subprocess.run(
        [str(tf.path), "plan", "-input=false", "-lock=false", "-no-color",
         "-var-file=values.tfvars.json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("module", sorted(GOOD))
def test_good_values_pass(module: str, terraform_binary: TerraformBinary, tmp_path: Path) -> None:
    out = plan(terraform_binary, module, GOOD[module], tmp_path)
    assert out.startswith("rc=0"), out


@pytest.mark.parametrize("module", sorted(BAD))
def test_bad_values_are_refused(
    module: str, terraform_binary: TerraformBinary, tmp_path: Path
) -> None:
    values, messages = BAD[module]
    out = plan(terraform_binary, module, values, tmp_path)
    assert not out.startswith("rc=0"), out
    flat = " ".join(out.split())
    assert [m for m in messages if m not in flat] == [], out


def test_world_ssh_needs_the_explicit_flag(
    terraform_latest: TerraformBinary, tmp_path: Path
) -> None:
    values = {**GOOD["network"], "ssh_cidrs": [], "allow_world_ssh": True}
    assert plan(terraform_latest, "network", values, tmp_path).startswith("rc=0")


def test_modules_are_terraform_fmt_clean(terraform_latest: TerraformBinary) -> None:
    result = subprocess.run(
        [str(terraform_latest.path), "fmt", "-check", "-diff", "-recursive", str(MODULES)],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
