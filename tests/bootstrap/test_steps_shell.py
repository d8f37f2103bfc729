"""The rendered steps run for real in bash, as hosts that lack something: a PATH without the
command (Docker, nvidia-smi, apt-get…) and, where a GPU must be present, a fake PCI bus mounted
over /sys/bus/pci/devices in a private mount namespace (``shell_hosts``). Every failure is one
``error:`` line naming what is missing and the step or option that provides it.

Only paths that stop before changing anything run here (``--check``, or a missing prerequisite
found first); the install paths lacking apt-get run on an LXD container (test_lxd.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cmlinfra.bootstrap.steps import Options, build_steps, custom_step
from tests.bootstrap.shell_hosts import (
    H200,
    NOT_GPUS,
    REPLAY,
    fake_pci,
    restricted_path,
    run_as_host,
)

SCRIPTS = {s.name: s.script for s in build_steps(Options(runner_agent="github"))}

NEEDS_DRIVER = (
    "the NVIDIA driver (no nvidia-smi: the nvidia-driver step installs it, or use a "
    "--cloud-image that has it)"
)
NEEDS_DOCKER = "Docker (the docker step installs it)"
NEEDS_TOOLKIT = (
    "the NVIDIA container toolkit (the nvidia-container-toolkit step registers it with Docker)"
)
# A Docker client whose daemon answers, without the nvidia runtime (what the docker step leaves)
DOCKER_WITHOUT_RUNTIME = """#!/bin/sh
case "$1" in
  version) echo "Server: 24.0.7" ;;
  info) echo '{"io.containerd.runc.v2":{"path":"runc"},"runc":{"path":"runc"}}' ;;
  *) exit 1 ;;
esac
"""
# The nvidia runtime registered, no image pulled yet
DOCKER_WITHOUT_IMAGES = DOCKER_WITHOUT_RUNTIME.replace('"io.containerd.runc.v2"', '"nvidia"')
DOCKER_DAEMON_DOWN = """#!/bin/sh
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon \
running?" >&2
exit 1
"""


def run_step(
    tmp_path: Path,
    name: str,
    *args: str,
    pci: dict[str, tuple[str, str, str]] | None = None,
    without: tuple[str, ...] = (),
    shims: dict[str, str | Path] | None = None,
    script: str | None = None,
) -> tuple[int, list[str]]:
    path = restricted_path(tmp_path / "path", without, shims)
    bus = fake_pci(tmp_path / "pci", {**NOT_GPUS, **(H200 if pci is None else pci)})
    file = tmp_path / f"{name}.sh"
    file.write_text(script or SCRIPTS[name])
    result = run_as_host(["bash", str(file), *args], path, bus)
    return result.returncode, [line for line in result.stdout.splitlines() if line.strip()]


def assert_one_error(rc: int, lines: list[str], expected: str) -> None:
    assert rc == 1, lines
    assert lines[-1] == f"error: {expected}", lines
    assert sum(line.startswith("error:") for line in lines) == 1, lines


def facts(lines: list[str]) -> dict[str, str]:
    return dict(
        line.removeprefix("fact: ").split("=", 1) for line in lines if line.startswith("fact: ")
    )


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_detect_finds_a_3d_controller_in_sysfs_without_lspci(tmp_path: Path, check: bool) -> None:
    """The H200 machine had no lspci and no driver-independent tool: its GPU was visible only
    as a PCI 3D controller (class 0x0302) of vendor 0x10de in sysfs."""
    rc, lines = run_step(tmp_path, "detect", *(["--check"] if check else []))
    assert rc == 0, lines
    found = facts(lines)
    assert (found["gpu"], found["nvidia_driver"]) == ("1x NVIDIA [10de:2335] (no driver)", "none")
    assert found["gpu_pci"] == "0000:00:06.0"  # not the card's audio, not the NVSwitch


def test_detect_counts_vga_and_3d_controllers_only(tmp_path: Path) -> None:
    two = {
        "0000:3b:00.0": ("0x10de", "0x2330", "0x030200"),
        "0000:5e:00.0": ("0x10de", "0x2330", "0x030200"),
        "0000:af:00.0": ("0x10de", "0x1eb8", "0x030000"),  # a VGA-class NVIDIA card
    }
    rc, lines = run_step(tmp_path, "detect", pci=two)
    assert rc == 0, lines
    found = facts(lines)
    assert found["gpu"] == "1x NVIDIA [10de:1eb8], 2x NVIDIA [10de:2330] (no driver)"
    assert found["gpu_pci"] == "0000:3b:00.0,0000:5e:00.0,0000:af:00.0"


def test_no_nvidia_gpu_means_no_gpu(tmp_path: Path) -> None:
    rc, lines = run_step(tmp_path, "detect", pci={})
    assert rc == 0, lines
    assert facts(lines)["gpu"] == "none" and "gpu_pci" not in facts(lines)
    for name in ("nvidia-driver", "nvidia-container-toolkit", "gpu-check"):
        rc, lines = run_step(tmp_path / name, name, pci={})
        assert (rc, lines[-1]) == (0, "skip: no NVIDIA GPU on this host"), name


def test_detect_with_the_h200_driver(tmp_path: Path) -> None:
    """nvidia-smi replaying the real H200 captures: the facts of the real run, plus where
    sysfs sees the card, then the CSV the bootstrap parses."""
    rc, lines = run_step(tmp_path, "detect", shims={"nvidia-smi": REPLAY})
    assert rc == 0, lines
    found = facts(lines)
    assert (found["gpu"], found["nvidia_driver"]) == ("1x NVIDIA H200", "580.159.04")
    assert found["gpu_pci"] == "0000:00:06.0"
    assert lines[-2:] == (REPLAY.parent / "real-h200" / "query.csv").read_text().splitlines()


GPU_CHECK_CASES = {
    "bare GPU host": (
        {},
        f"the GPU check needs {NEEDS_DRIVER}, {NEEDS_DOCKER} and {NEEDS_TOOLKIT}",
    ),
    # the real H200 machine: driver, no Docker (was "docker: command not found", exit 127)
    "driver, no Docker": (
        {"nvidia-smi": REPLAY},
        f"the GPU check needs {NEEDS_DOCKER} and {NEEDS_TOOLKIT}",
    ),
    "Docker's daemon down": (
        {"nvidia-smi": REPLAY, "docker": DOCKER_DAEMON_DOWN},
        "the GPU check needs a running Docker (Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?: the docker step starts it)",
    ),
    "no nvidia runtime": (
        {"nvidia-smi": REPLAY, "docker": DOCKER_WITHOUT_RUNTIME},
        "the GPU check needs the NVIDIA container toolkit (no nvidia runtime in Docker: the "
        "nvidia-container-toolkit step registers it)",
    ),
}


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("case", list(GPU_CHECK_CASES))
def test_gpu_check_names_everything_missing(tmp_path: Path, case: str, check: bool) -> None:
    shims, expected = GPU_CHECK_CASES[case]
    rc, lines = run_step(tmp_path, "gpu-check", *(["--check"] if check else []), shims=shims)
    assert_one_error(rc, lines, expected)


@pytest.mark.parametrize(
    ("name", "args", "shims", "without", "expected"),
    [
        pytest.param(
            "nvidia-driver", ["--check"], {}, (),
            "no NVIDIA driver on this GPU host (no nvidia-smi); the nvidia-driver step installs "
            "it, or use a --cloud-image that has it",
            id="driver-check-none",
        ),
        pytest.param(
            "nvidia-driver", ["--check"], {"nvidia-smi": "#!/bin/sh\nexit 9\n"}, (),
            "the NVIDIA driver does not answer (nvidia-smi fails: its kernel module is not "
            "loaded); reboot, or run the nvidia-driver step",
            id="driver-check-not-loaded",
        ),
        pytest.param(
            "docker", ["--check"], {}, (), "Docker is not installed; the docker step installs it",
            id="docker-check",
        ),
        pytest.param(
            "docker", [], {}, ("apt-get",),
            "Docker is not installed and this host has no apt-get to install it; use a Debian "
            "or Ubuntu image, or a --cloud-image that has Docker",
            id="docker-no-apt",
        ),
        pytest.param(
            "nvidia-container-toolkit", [], {"nvidia-smi": REPLAY}, (),
            "Docker is not installed; run the docker step before this one (the NVIDIA "
            "container toolkit registers itself with Docker)",
            id="toolkit-no-docker",
        ),
        pytest.param(
            "nvidia-container-toolkit", ["--check"],
            {"nvidia-smi": REPLAY, "docker": DOCKER_WITHOUT_RUNTIME}, (),
            "the NVIDIA container toolkit is not registered with Docker (no nvidia runtime); "
            "the nvidia-container-toolkit step installs it",
            id="toolkit-check",
        ),
        pytest.param(
            "gpu-check", ["--check"], {"nvidia-smi": REPLAY, "docker": DOCKER_WITHOUT_IMAGES}, (),
            "the image ubuntu:24.04 is not on this host and --check pulls nothing; run 'docker "
            "pull ubuntu:24.04', or the gpu-check step without --check",
            id="gpu-check-check-no-image",
        ),
        pytest.param(
            "runner-agent", ["--check"], {}, (),
            "the GitHub Actions runner 2.321.0 is not installed; the runner-agent step installs "
            "it",
            id="agent-check",
        ),
        pytest.param(
            "runner-agent", [], {}, ("useradd", "getent"),
            "this host lacks useradd getent, which the runner-agent step needs; install them "
            "or use a fuller image",
            id="agent-no-useradd",
        ),
        pytest.param(
            "docker", ["--bogus"], {}, (),
            "unknown argument '--bogus' (the docker step takes none, or --check to verify only)",
            id="bad-argument",
        ),
    ],
)  # fmt: skip
def test_each_step_fails_in_one_line(
    tmp_path: Path,
    name: str,
    args: list[str],
    shims: dict[str, str | Path],
    without: tuple[str, ...],
    expected: str,
) -> None:
    rc, lines = run_step(tmp_path, name, *args, shims=shims, without=without)
    assert_one_error(rc, lines, expected)


def test_check_mode_passes_where_the_result_is_there(tmp_path: Path) -> None:
    rc, lines = run_step(tmp_path, "nvidia-driver", "--check", shims={"nvidia-smi": REPLAY})
    assert (rc, lines) == (0, ["ok: driver 580.159.04"])


def test_an_unchecked_missing_command_still_fails_in_one_line(tmp_path: Path) -> None:
    """The safety net for a command a step forgot to check for (what the gpu-check step did
    with docker): bash's own complaint, then one line naming the command."""
    step = custom_step("probe", '{% include "_lib.sh.j2" %}\necho before\ncmlt-no-such-tool --x\n')
    rc, lines = run_step(tmp_path, "probe", script=step.script)
    assert rc == 1, lines
    assert lines[0] == "before" and "cmlt-no-such-tool: command not found" in lines[1]
    assert lines[-1] == "error: the probe step needs cmlt-no-such-tool, which this host lacks"
