"""The Packer template, validated by real Packer (Debian's 1.6.6, which bundles amazon-ebs).

Full ``packer validate`` (not only syntax) checks every builder argument against the
amazon-ebs schema. It runs in a new network namespace where that is allowed, so nothing can
reach AWS. ``plugins.pkr.hcl`` holds only the ``required_plugins`` block of Packer >= 1.7,
which 1.6 does not know: it is checked by ``packer fmt`` (a full HCL parse) instead.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cmlinfra.images import CLEANUP_SCRIPT

ROOT = Path(__file__).resolve().parents[2]
PACKER_DIR = ROOT / "images" / "packer"


def _isolated() -> list[str]:
    """``unshare -n`` when this process may create a network namespace (root in CI)."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return ["unshare", "-n"] if probe.returncode == 0 else []


def _packer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which("packer"), "packer is missing: scripts/setup.sh installs Debian's"
    return subprocess.run(
        [*_isolated(), "packer", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CHECKPOINT_DISABLE": "1", "HOME": str(cwd)},
        check=False,
    )


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """The template as Packer 1.6 loads it: everything but plugins.pkr.hcl."""
    shutil.copytree(PACKER_DIR, tmp_path / "packer", ignore=shutil.ignore_patterns("plugins.*"))
    return tmp_path / "packer"


def test_full_validation_passes(template: Path) -> None:
    result = _packer("validate", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "not-a-cidr"])
def test_ssh_is_never_open_to_the_world(template: Path, cidr: str) -> None:
    result = _packer("validate", "-var", f"ssh_cidr={cidr}", ".", cwd=template)
    assert result.returncode != 0
    assert "must be a CIDR of at most a /16" in result.stdout + result.stderr


def test_ssh_cidr_has_no_default(template: Path) -> None:
    result = _packer("validate", ".", cwd=template)
    assert result.returncode != 0
    assert 'Unset variable "ssh_cidr"' in result.stdout + result.stderr


def test_every_bootstrap_script_runs_in_order_and_is_recorded(template: Path) -> None:
    result = _packer("inspect", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    assert result.returncode == 0, result.stderr
    scripts = sorted(p.stem for p in (template / "scripts").glob("*.sh"))
    assert scripts, "images/packer/scripts/ is empty: run cmlinfra bootstrap render"
    assert f'"cmlinfra:steps\\" = \\"{",".join(scripts)}\\"' in result.stdout
    for script in scripts:
        assert f"bash ./{script}.sh 2>&1 | tee .step.log" in result.stdout  # in local.run_steps
    # upload; steps; reboot if a step asked; steps again; cleanup
    assert "file\n      shell\n      shell\n      shell\n      shell\n" in result.stdout


def test_files_are_packer_formatted() -> None:
    result = _packer("fmt", "-check", "-diff", ".", cwd=PACKER_DIR)
    assert result.returncode == 0, result.stdout  # also a full HCL parse of plugins.pkr.hcl


def test_cleanup_is_the_same_script_image_bake_runs() -> None:
    assert (PACKER_DIR / "cleanup.sh").read_bytes() == CLEANUP_SCRIPT.read_bytes()


def _run_steps(template: Path) -> str:
    """The template's own step loop, as Packer evaluated it (``packer inspect``)."""
    result = _packer("inspect", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    line = next(x for x in result.stdout.splitlines() if x.startswith("local.run_steps: "))
    return json.loads(line.split(": ", 1)[1])


@pytest.mark.parametrize(
    ("exits", "rc", "ran", "reboot"),
    [
        ((0, 0, 0), 0, 3, False),  # all done
        ((0, "reboot", 0), 0, 2, True),  # the driver asks for a reboot: stop, reboot, run again
        ((0, 194, 0), 194, 2, False),  # 194 without the "reboot:" line is a failure
        ((0, 100, 0), 100, 2, False),  # apt's failure code is a failure, not a reboot
        ((0, 3, 0), 3, 2, False),  # a failure stops the build with its exit code
    ],
)
def test_step_loop_handles_reboot_requests_and_failures(
    template: Path, tmp_path: Path, exits: tuple[int | str, ...], rc: int, ran: int, reboot: bool
) -> None:
    for old in (template / "scripts").glob("*.sh"):
        old.unlink()
    work = tmp_path / "bootstrap"
    work.mkdir()
    for index, code in enumerate(exits, 1):
        ask = code == "reboot"  # what the driver step prints and returns when it needs one
        body = f"echo {index} >> ran.log\n" + (
            "echo 'reboot: driver'\nexit 194\n" if ask else f"exit {code}\n"
        )
        (template / "scripts" / f"{index:02d}-step.sh").write_text(body)
        (work / f"{index:02d}-step.sh").write_text(body)
    loop = _run_steps(template).replace("/var/tmp/cmlinfra-bootstrap", str(work))
    result = subprocess.run(["bash", "-c", loop], capture_output=True, text=True, check=False)
    assert result.returncode == rc, result.stderr
    assert (work / "ran.log").read_text().split() == [str(i) for i in range(1, ran + 1)]
    assert (work / ".reboot").exists() == reboot


RENDER = ("bootstrap", "render", "--runner-agent", "github")  # what images/packer/README says


def test_committed_scripts_equal_a_fresh_render(tmp_path: Path) -> None:
    """images/packer/scripts/ is `cmlinfra bootstrap render` output, byte for byte: the AMI is
    built by the very scripts runners run over SSH."""
    from tests.fixtures.cli import run_cli

    result = run_cli(*RENDER, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in (PACKER_DIR / "scripts").iterdir()}
    assert committed == fresh, "run: cmlinfra " + " ".join(RENDER) + " --out images/packer/scripts"
    assert {"01-detect.sh", "03-docker.sh", "06-runner-agent.sh"} <= set(fresh)


def test_the_googlecompute_source_is_checked_too(template: Path) -> None:
    """Packer 1.6 bundles googlecompute and validates its arguments: a typo there fails; the
    image lands in the family --cloud-image cmlinfra boots, labelled without ':'."""
    inspect = _packer("inspect", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    assert "googlecompute.gpu" in inspect.stdout and "amazon-ebs.gpu" in inspect.stdout
    main = template / "cmlinfra-gpu.pkr.hcl"
    text = main.read_text()
    assert 'image_family                    = "cmlinfra-gpu"' in text
    assert "disable_default_service_account = true" in text
    main.write_text(text.replace("on_host_maintenance", "on_host_maintenanse"))
    result = _packer("validate", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    assert result.returncode != 0
    assert (
        'An argument named "on_host_maintenanse" is not expected' in result.stdout + result.stderr
    )


def test_the_azure_source_is_validated_too(template: Path) -> None:
    """Packer checks the azure-arm source against its own schema: a misspelt argument fails,
    and the builder admits SSH from ssh_cidr only."""
    main = template / "cmlinfra-gpu.pkr.hcl"
    text = main.read_text()
    assert (
        'source "azure-arm" "gpu"' in text
        and "allowed_inbound_ip_addresses = [var.ssh_cidr]" in text
    )
    inspect = _packer("inspect", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    assert "azure-arm.gpu" in inspect.stdout, inspect.stdout
    main.write_text(text.replace("managed_image_name ", "managed_image_nam ", 1))
    result = _packer("validate", "-var", "ssh_cidr=203.0.113.7/32", ".", cwd=template)
    assert result.returncode != 0
    assert "managed_image_nam" in result.stdout + result.stderr
