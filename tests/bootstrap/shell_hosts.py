"""Real bash runs of the rendered steps (and scripts/gpu-check.sh) on this machine, made to look
like another host without changing anything here:

- **PATH-restricted**: a directory of links to every command of /usr/sbin, /usr/bin, /sbin and
  /bin except the ones the host should lack (Docker, nvidia-smi, lspci, apt-get…), plus shims;
- **a fake PCI bus**: a ``/sys/bus/pci/devices`` tree bind-mounted over the real one in a private
  mount namespace (``unshare -m``), so the scripts read it at its real path — no test hook in
  them. The H200's entry is what the real machine showed (tests/bootstrap/fixtures/nvidia-smi/
  real-h200/SOURCE.md): 0000:00:06.0, vendor 0x10de, device 0x2335, class 0x030200.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
REAL_H200 = FIXTURES / "nvidia-smi" / "real-h200"
REPLAY = FIXTURES / "nvidia-smi" / "replay-nvidia-smi"  # replays REAL_H200's captures
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# What a bare GPU machine may lack; dropped from every restricted PATH unless shimmed.
GPU_TOOLS = ("docker", "dockerd", "nvidia-smi", "nvidia-ctk", "lspci", "cloud-init")

# address → (vendor, device, class), as sysfs spells them
H200 = {"0000:00:06.0": ("0x10de", "0x2335", "0x030200")}
NOT_GPUS = {
    "0000:00:00.0": ("0x8086", "0x1237", "0x060000"),  # host bridge
    "0000:00:02.0": ("0x1234", "0x1111", "0x030000"),  # a VGA card, not NVIDIA
    "0000:00:05.0": ("0x1af4", "0x1000", "0x020000"),  # virtio net
    "0000:00:06.1": ("0x10de", "0x22a3", "0x040300"),  # an NVIDIA card's audio function
    "0000:00:07.0": ("0x10de", "0x22a4", "0x068000"),  # an NVSwitch (bridge class)
}


def fake_pci(root: Path, devices: Mapping[str, tuple[str, str, str]]) -> Path:
    """A ``/sys/bus/pci/devices``-shaped tree: one directory per address with its files."""
    root.mkdir(parents=True, exist_ok=True)
    for address, (vendor, device, klass) in devices.items():
        entry = root / address
        entry.mkdir()
        for name, value in (("vendor", vendor), ("device", device), ("class", klass)):
            (entry / name).write_text(value + "\n")
    return root


@cache
def _commands_without(dropped: frozenset[str]) -> Path:
    """A directory of links to this machine's commands except ``dropped`` (made once per set,
    removed at exit)."""
    bin_dir = Path(tempfile.mkdtemp(prefix="cmlt-path-"))
    atexit.register(shutil.rmtree, bin_dir, True)
    for system in SYSTEM_DIRS:
        if not os.path.isdir(system):
            continue
        for entry in os.scandir(system):
            target = bin_dir / entry.name
            if entry.name in dropped or target.exists() or not os.access(entry.path, os.X_OK):
                continue
            target.symlink_to(os.path.realpath(entry.path))
    return bin_dir


def restricted_path(
    directory: Path, without: Sequence[str] = (), shims: Mapping[str, str | Path] | None = None
) -> str:
    """A PATH of this machine's commands minus ``without`` (and :data:`GPU_TOOLS`), with
    ``shims`` (name → script text, or a file to link) first."""
    bin_dir = _commands_without(frozenset({*without, *GPU_TOOLS}))
    shim_dir = directory / "shims"
    shim_dir.mkdir(parents=True)
    for name, shim in (shims or {}).items():
        path = shim_dir / name
        if isinstance(shim, Path):
            path.symlink_to(shim.resolve())
        else:
            path.write_text(shim)
            path.chmod(0o755)
    return f"{shim_dir}:{bin_dir}"


def run_as_host(
    argv: Sequence[str],
    path: str,
    pci: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``argv`` with ``PATH=path`` and ``pci`` mounted on /sys/bus/pci/devices (stderr merged
    into stdout, as the bootstrap's SSH channel and gpu-check.sh's files have them)."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    assert unshare and mount, "util-linux (unshare, mount) is needed"
    inner = '"$0" --bind "$1" /sys/bus/pci/devices && shift && exec "$@"'
    return subprocess.run(
        [unshare, "-m", "--", "/bin/sh", "-c", inner, mount, str(pci), *argv],
        env={"PATH": path, "LC_ALL": "C", "HOME": "/root", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
