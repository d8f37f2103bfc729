"""The module-variable checks every cloud's Terraform modules get, by real Terraform.

No cloud provider binary can be downloaded here, but a module's ``variables.tf`` alone needs no
provider: planned on its own, Terraform runs every validation block exactly as it would for a
caller of the module. Each cloud's ``test_module_variables.py`` keeps its own good and bad
values (what its modules must accept and refuse) and takes the four tests from
:func:`variable_tests`, so the way a module is planned is the same for every cloud.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.terraform_bins import TerraformBinary

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"
Good = dict[str, dict[str, Any]]
Bad = dict[str, tuple[dict[str, Any], list[str]]]


def plan_variables(tf: TerraformBinary, module: Path, values: dict[str, Any], work: Path) -> str:
    """``terraform plan`` of the module's variables.tf alone; returns the combined output."""
    shutil.copy(module / "variables.tf", work / "variables.tf")
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


def variable_tests(modules: Path, good: Good, bad: Bad) -> tuple[Callable[..., None], ...]:
    """The four tests for one cloud's modules folder: good values pass, bad ones are refused
    with every expected message, a world-open SSH range needs ``allow_world_ssh``, and the
    modules are ``terraform fmt`` clean. Assign them to ``test_*`` names in the cloud's test
    module (new function objects per call, so each cloud's tests are its own)."""

    @pytest.mark.parametrize("module", sorted(good))
    def good_values_pass(module: str, terraform_binary: TerraformBinary, tmp_path: Path) -> None:
        out = plan_variables(terraform_binary, modules / module, good[module], tmp_path)
        assert out.startswith("rc=0"), out

    @pytest.mark.parametrize("module", sorted(bad))
    def bad_values_are_refused(
        module: str, terraform_binary: TerraformBinary, tmp_path: Path
    ) -> None:
        values, messages = bad[module]
        out = plan_variables(terraform_binary, modules / module, values, tmp_path)
        assert not out.startswith("rc=0"), out
        flat = " ".join(out.split())
        assert [m for m in messages if m not in flat] == [], out

    def world_ssh_needs_the_explicit_flag(
        terraform_latest: TerraformBinary, tmp_path: Path
    ) -> None:
        values = {**good["network"], "ssh_cidrs": [], "allow_world_ssh": True}
        out = plan_variables(terraform_latest, modules / "network", values, tmp_path)
        assert out.startswith("rc=0"), out

    def modules_are_terraform_fmt_clean(terraform_latest: TerraformBinary) -> None:
        result = subprocess.run(
            [str(terraform_latest.path), "fmt", "-check", "-diff", "-recursive", str(modules)],
            capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "TF_CLI_CONFIG_FILE": "/dev/null"},
        )  # fmt: skip
        assert result.returncode == 0, result.stdout

    return (
        good_values_pass,
        bad_values_are_refused,
        world_ssh_needs_the_explicit_flag,
        modules_are_terraform_fmt_clean,
    )
