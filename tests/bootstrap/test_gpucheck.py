"""``scripts/gpu-check.sh``, the GPU check anyone can run on a machine with an NVIDIA GPU, and the
verdicts it prints (``cmlinfra.bootstrap.gpucheck``).

No GPU here: the script runs for real in bash as a host whose nvidia-smi replays the real H200
captures (``replay-nvidia-smi``) and whose PCI bus is the H200 machine's, mounted over
/sys/bus/pci/devices in a private mount namespace (``shell_hosts``). Its Python half runs with
``-S`` (no site-packages), as on a bare GPU machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cmlinfra.bootstrap.gpucheck import main, verdicts
from cmlinfra.bootstrap.steps import GPU_QUERY
from tests.bootstrap.shell_hosts import (
    H200,
    NOT_GPUS,
    REAL_H200,
    REPLAY,
    fake_pci,
    restricted_path,
    run_as_host,
)

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu-check.sh"
CAPTURED = ("query.csv", "query-nounits.csv", "q.xml", "nvidia-smi.txt")
PARSER_PASS = (
    "PASS parser: 1x NVIDIA H200 (143771 MiB, compute capability 9.0, PCI 00000000:00:06.0); "
    "driver 580.159.04, CUDA 13.0; CSV with and without units, XML and table agree"
)
NO_DOCKER = (
    "FAIL gpu-check: the GPU check needs Docker (the docker step installs it) and the NVIDIA "
    "container toolkit (the nvidia-container-toolkit step registers it with Docker) (exit 1)"
)
# Docker with the nvidia runtime whose containers see the host's GPUs: `docker run … IMAGE sh
# -c CMD` runs CMD here, where nvidia-smi is the replay.
DOCKER_WITH_GPUS = """#!/bin/sh
case "$1" in
  version) echo "Server: 24.0.7" ;;
  info) echo '{"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}' ;;
  image) exit 0 ;;
  run) while [ "$1" != sh ]; do shift; done; exec "$@" ;;
  *) exit 1 ;;
esac
"""


def gpu_check(
    tmp_path: Path,
    *args: str,
    shims: dict[str, str | Path] | None = None,
    pci: dict[str, tuple[str, str, str]] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out"
    path = restricted_path(tmp_path / "path", shims=shims)
    bus = fake_pci(tmp_path / "pci", {**NOT_GPUS, **(H200 if pci is None else pci)})
    argv = ["bash", str(SCRIPT), "--out", str(out), *args]
    return run_as_host(argv, path, bus, env={"PYTHON": sys.executable, **(env or {})}), out


def test_the_committed_h200_captures_and_their_verdicts() -> None:
    """The real run at main a1087aa: detect was right, the old gpu-check step died on
    ``docker: command not found``, and its detect did not yet report where sysfs sees the GPU."""
    assert [v.line() for v in verdicts(REAL_H200)] == [
        "PASS detect: 1x NVIDIA H200, driver 580.159.04 (ubuntu 24.04, x86_64)",
        "FAIL nvidia-driver: not run (no output recorded)",
        "FAIL gpu-check: scripts/05-gpu-check.sh: line 89: docker: command not found (exit 127)",
        PARSER_PASS,
        "FAIL pci: nvidia-smi reports 0000:00:06.0 but detect reported no NVIDIA VGA/3D "
        "controller in /sys/bus/pci/devices (fact: gpu_pci)",
    ]


def test_on_the_h200_machine_as_it_was(tmp_path: Path) -> None:
    """Driver 580 answering, no Docker, no lspci, the GPU a 3D controller in sysfs: every
    check passes but the GPU check, which names what is missing and the steps that provide it."""
    result, out = gpu_check(tmp_path, shims={"nvidia-smi": REPLAY})
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout
    assert lines == [
        "PASS detect: 1x NVIDIA H200, driver 580.159.04 (debian 12, x86_64)".replace(
            "debian 12", _os()
        ),
        "PASS nvidia-driver: driver 580.159.04",
        NO_DOCKER,
        PARSER_PASS,
        "PASS pci: detect found 0000:00:06.0 in sysfs, the bus ids nvidia-smi reports",
        "gpu-check: 4 PASS, 1 FAIL, 0 SKIP",
        f"gpu-check: raw outputs, verdicts.txt and SOURCE.md in {out}",
    ]
    for name in CAPTURED:  # the live outputs are the real ones, byte for byte
        assert (out / name).read_bytes() == (REAL_H200 / name).read_bytes(), name
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*CAPTURED, "SOURCE.md", "verdicts.txt", "sysfs-nvidia.txt"]
        + [f"{s}-step.txt" for s in ("detect", "nvidia-driver", "gpu-check")]
    )
    assert (out / "sysfs-nvidia.txt").read_text().splitlines() == [
        "0000:00:06.0 vendor=0x10de device=0x2335 class=0x030200",
        "0000:00:06.1 vendor=0x10de device=0x22a3 class=0x040300",
        "0000:00:07.0 vendor=0x10de device=0x22a4 class=0x068000",
    ]
    # the folder is a fixture as it stands: the verdicts come again from its files alone
    assert [v.line() for v in verdicts(out)] == lines[:5]
    assert (out / "verdicts.txt").read_text().splitlines() == lines[:5]
    source = (out / "SOURCE.md").read_text()
    assert "| 1x NVIDIA H200 | 580.159.04 (CUDA 13.0) | detect PASS, nvidia-driver PASS, " in source
    assert "gpu-check FAIL, parser PASS, pci PASS |" in source


def _os() -> str:
    release = dict(
        line.split("=", 1)
        for line in Path("/etc/os-release").read_text().splitlines()
        if "=" in line
    )
    return f"{release.get('ID', 'unknown')} {release.get('VERSION_ID', 'unknown').strip(chr(34))}"


def test_a_ready_gpu_runner_passes_every_check(tmp_path: Path) -> None:
    result, _ = gpu_check(tmp_path, shims={"nvidia-smi": REPLAY, "docker": DOCKER_WITH_GPUS})
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[2] == "PASS gpu-check: a container (ubuntu:24.04) sees 1 GPU(s)"
    assert lines[5] == "gpu-check: 5 PASS, 0 FAIL, 0 SKIP"


def test_a_gpu_without_its_driver(tmp_path: Path) -> None:
    result, _ = gpu_check(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("PASS detect: 1x NVIDIA [10de:2335] (no driver), driver none (")
    assert lines[1] == (
        "FAIL nvidia-driver: no NVIDIA driver on this GPU host (no nvidia-smi); the "
        "nvidia-driver step installs it, or use a --cloud-image that has it (exit 1)"
    )
    assert lines[2].startswith("FAIL gpu-check: the GPU check needs the NVIDIA driver (")
    assert lines[3:5] == [
        "SKIP parser: no nvidia-smi here: nothing to parse",
        "SKIP pci: no nvidia-smi report to compare sysfs's ['0000:00:06.0'] with",
    ]


def test_a_machine_without_an_nvidia_gpu(tmp_path: Path) -> None:
    result, _ = gpu_check(tmp_path, pci={})
    assert result.returncode == 1
    assert result.stdout.splitlines()[:5] == [
        "FAIL detect: found no NVIDIA GPU (fact: gpu=none)",
        "SKIP nvidia-driver: no NVIDIA GPU on this host",
        "SKIP gpu-check: no NVIDIA GPU on this host",
        "SKIP parser: no nvidia-smi here: nothing to parse",
        "SKIP pci: no nvidia-smi report and no NVIDIA GPU in sysfs",
    ]


def test_a_hanging_nvidia_smi_is_cut_off(tmp_path: Path) -> None:
    """A wedged GPU can hang nvidia-smi: each call is bounded (--timeout), and what timed out
    is a failure with its exit code, not a hung check."""
    hang_on_xml = f'#!/bin/sh\ncase "$*" in *-x*) exec sleep 60 ;; esac\nexec {REPLAY} "$@"\n'
    result, out = gpu_check(tmp_path, "--timeout", "1", shims={"nvidia-smi": hang_on_xml})
    assert result.returncode == 1
    assert "FAIL parser: no q.xml: rc=124" in result.stdout.splitlines()
    assert not (out / "q.xml").exists() and (out / "q.xml.failed").read_text() == "rc=124\n"


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--timeout", "soon"], {}, "--timeout soon is not a whole number of seconds"),
        (["--bogus"], {}, "unknown argument '--bogus'"),
        ([], {"PYTHON": "/nonexistent/python3"}, "no python3 >= 3.10 as '/nonexistent/python3'"),
        (["--out", str(REAL_H200)], {}, "is not empty; give a new or empty directory"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], needle: str
) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **env},
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("gpu-check: error: ") and needle in result.stderr


def test_the_script_asks_what_the_bootstrap_asks() -> None:
    assert f"\nquery={GPU_QUERY} " in SCRIPT.read_text()


def test_the_python_half_needs_only_the_standard_library() -> None:
    """What the script runs: ``python3 -S -E -m cmlinfra.bootstrap.gpucheck`` from the
    checkout, so no installed package (jinja2, paramiko, typer…) can be imported."""
    code = (
        "import sys, cmlinfra.bootstrap.gpucheck\n"
        "mods = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(mods - set(sys.stdlib_module_names) - {'__main__'}))"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-c", code], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['cmlinfra']"


def test_the_scripts_are_shellcheck_clean() -> None:
    check = subprocess.run(["shellcheck", str(SCRIPT), str(REPLAY)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_rechecking_a_folder_changes_nothing_in_it(capsys: pytest.CaptureFixture[str]) -> None:
    before = {p.name: p.read_bytes() for p in REAL_H200.iterdir()}
    assert main([str(REAL_H200)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "gpu-check: 2 PASS, 3 FAIL, 0 SKIP"
    assert {p.name: p.read_bytes() for p in REAL_H200.iterdir()} == before
    assert main(["--record"]) == 2
