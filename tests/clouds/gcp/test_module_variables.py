"""The GCP modules' variable validations, evaluated by real Terraform (1.11.4 and 1.0.3).

No Google provider binary exists here, so only each module's ``variables.tf`` is planned: that
needs no provider, and Terraform runs every validation block exactly as for a caller.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.terraform_bins import TerraformBinary

MODULES = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "gcp"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"
GOOD: dict[str, dict[str, Any]] = {
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
BAD: dict[str, tuple[dict[str, Any], list[str]]] = {
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
