"""Real installs on containers of the local LXD cloud (Debian 12, ``security.nesting=true``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmlinfra.bootstrap.run import bootstrap_host
from cmlinfra.bootstrap.ssh import connect
from cmlinfra.bootstrap.steps import Options, build_steps

pytestmark = pytest.mark.lxd

TINY_IMAGE = Path(__file__).parent / "fixtures" / "tiny-image.sh"


def test_docker_from_debian_packages_then_a_registry_free_image(lxd_hosts) -> None:
    """Cold bootstrap installs Docker (docker.io) for real; the re-run skips it; a rootfs
    tarball imported with ``docker import`` then runs without any registry."""
    host = lxd_hosts("docker-")
    steps = build_steps(Options(gpu=False))
    assert [s.name for s in steps] == ["detect", "docker"]

    cold = bootstrap_host(host.target(), steps, wait=60, timeout=900)
    assert cold.ok, (cold.error, cold.tail)
    assert [(s.name, s.status) for s in cold.steps] == [("detect", "done"), ("docker", "done")]
    assert cold.facts["os"] == "debian" and cold.facts["gpu"] == "none"
    assert host.exec("docker version --format '{{.Server.Version}}'").strip()

    again = bootstrap_host(host.target(), steps, wait=60, timeout=900)
    assert again.ok
    assert [(s.name, s.status) for s in again.steps] == [("detect", "done"), ("docker", "skipped")]
    assert again.steps[1].note.startswith("already done (docker ")

    with connect(host.target(), wait=30) as ssh:
        run = ssh.run(TINY_IMAGE.read_text(), timeout=300)
    assert run.exit_code == 0, run.tail
    entries = run.tail[-1].removeprefix("root: ").split()
    assert "bin" in entries and "proc" in entries and "usr" not in entries, run.tail


# Narrow stand-ins for what needs an NVIDIA card (fixtures/gpu-shims), installed in
# /usr/local/sbin (first on root's PATH): the PCI listing, the package manager's install of the
# driver, the kernel module and nvidia-smi. State lives in /var/lib (survives a reboot) and
# /run (does not), so the module "loads" only after a real reboot of the container, as on a
# fresh cloud machine.
SHIMS = Path(__file__).parent / "fixtures" / "gpu-shims"


def test_nvidia_driver_reboot_and_resume_with_shims(lxd_hosts) -> None:
    """The Debian driver path on a real Debian machine: non-free components enabled in the
    real sources, the driver packages requested, the module missing until a reboot, a real
    reboot of the container, the step run again and passing, and a re-run that skips it. The
    GPU itself (PCI listing, driver packages, module, nvidia-smi) is shimmed: see SHIMS."""
    host = lxd_hosts("gpu-")
    for shim in SHIMS.iterdir():
        host.push(shim.read_text(), f"/usr/local/sbin/{shim.name}")
    fixture = Path(__file__).parent / "fixtures" / "nvidia-smi" / "h100x8.query.csv"
    host.push(fixture.read_text(), "/usr/local/share/cmlt-shim/gpus.csv", mode="0644")
    steps = build_steps(Options(), only=["detect", "nvidia-driver"])

    cold = bootstrap_host(host.target(), steps, wait=60, timeout=300)
    assert cold.ok, (cold.error, cold.tail)
    assert [(s.name, s.status) for s in cold.steps] == [
        ("detect", "done"),
        ("nvidia-driver", "done"),
    ]
    assert cold.facts["gpu"] == "NVIDIA Corporation GH100 [H100 SXM5 80GB] [10de:2330] (rev a1)"
    assert cold.facts["nvidia_driver"] == "none"
    assert cold.steps[1].note == "rebooted; already done (driver 550.90.07)"
    kernel = host.exec("uname -r").strip()
    requested = host.exec("cat /var/log/cmlt-shim-apt.log")
    assert f"install -y --no-install-recommends linux-headers-{kernel} nvidia-driver" in requested
    sources = host.exec(
        "cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true"
    )
    assert "main contrib non-free non-free-firmware" in sources

    again = bootstrap_host(host.target(), steps, wait=60, timeout=300)
    assert [(s.name, s.status) for s in again.steps] == [
        ("detect", "done"),
        ("nvidia-driver", "skipped"),
    ]
    assert again.facts["gpu"] == "8x NVIDIA H100 80GB HBM3"
    assert again.facts["nvidia_driver"] == "550.90.07"
    assert len(again.gpus) == 8 and again.gpus[0].memory_mib == 81559
