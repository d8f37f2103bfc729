"""The modules' variable validations, evaluated by real Terraform (1.11.4 and 1.0.3).

Planning the modules needs the AWS provider, which cannot be downloaded here; their
``variables.tf`` alone needs no provider at all, so it is planned on its own: Terraform then
runs every validation block exactly as it would for a caller of the module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.terraform_bins import TerraformBinary

MODULES = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "aws"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"
GOOD: dict[str, dict[str, Any]] = {
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
BAD: dict[str, tuple[dict[str, Any], list[str]]] = {
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


def plan_variables(tf: TerraformBinary, module: str, values: dict[str, Any], work: Path) -> str:
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
    plan = subprocess.run(
        [str(tf.path), "plan", "-input=false", "-lock=false", "-no-color",
         "-var-file=values.tfvars.json"],
        cwd=work, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return f"rc={plan.returncode}\n{plan.stdout}\n{plan.stderr}"


@pytest.mark.parametrize("module", sorted(GOOD))
def test_good_values_pass(module: str, terraform_binary: TerraformBinary, tmp_path: Path) -> None:
    out = plan_variables(terraform_binary, module, GOOD[module], tmp_path)
    assert out.startswith("rc=0"), out


@pytest.mark.parametrize("module", sorted(BAD))
def test_bad_values_are_refused(
    module: str, terraform_binary: TerraformBinary, tmp_path: Path
) -> None:
    values, messages = BAD[module]
    out = plan_variables(terraform_binary, module, values, tmp_path)
    assert not out.startswith("rc=0"), out
    flat = " ".join(out.split())
    missing = [m for m in messages if m not in flat]
    assert missing == [], out


def test_world_ssh_needs_the_explicit_flag(
    terraform_latest: TerraformBinary, tmp_path: Path
) -> None:
    values = {**GOOD["network"], "ssh_cidrs": [], "allow_world_ssh": True}
    assert plan_variables(terraform_latest, "network", values, tmp_path).startswith("rc=0")


def test_modules_are_terraform_fmt_clean(terraform_latest: TerraformBinary) -> None:
    result = subprocess.run(
        [str(terraform_latest.path), "fmt", "-check", "-diff", "-recursive", str(MODULES)],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
