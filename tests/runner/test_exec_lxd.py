"""``cmlinfra exec`` on the real LXD cloud: the tree goes over SSH, the command's output comes
back live, artifacts come back, and the machine is destroyed on every path."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cmlinfra.runner.store import open_store
from tests.fixtures.cli import cli_env
from tests.runner.conftest import IMAGE, containers, lxc, wait_until

pytestmark = pytest.mark.lxd


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("data/\n")
    (root / "train.py").write_text(
        "import os, pathlib\n"
        "print('files:', sorted(os.listdir('.')))\n"
        "pathlib.Path('out').mkdir(exist_ok=True)\n"
        "pathlib.Path('out/metrics.json').write_text('{\"acc\": 0.9}')\n"
    )
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"\0" * 1024)  # ignored: must not travel
    return root


def exec_args(lifecycle, name: str, *command: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "exec",
        "--cloud",
        "lxd",
        "--name",
        name,
        "--state",
        lifecycle.state,
        "--artifacts",
        "out/*.json",
        "--",
        *command,
    ]


def test_exec_runs_fetches_and_passes_the_exit_code_through(lifecycle, cli, project) -> None:
    """With --json: stdout is one summary object, the live output goes to stderr (the plain
    run's live output on stdout is test_sigterm_cancels_and_destroys's)."""
    lc = lifecycle
    script = "python3 train.py && exit 3"
    name = f"{lc.prefix}exec"
    result = cli("--json", *exec_args(lc, name, "bash", "-c", script), env=lc.env(), cwd=project)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "files: ['.gitignore', 'train.py']" in result.stderr  # live output; data/ stayed
    assert result.stderr.count("synthesizing the stack") == 1  # once per launch
    summary = json.loads(result.stdout)
    assert (summary["name"], summary["exit_code"]) == (name, 3)
    assert summary["artifacts"] == ["out/metrics.json"]
    assert {"apply", "run", "destroy", "total"} <= set(summary["timings"])
    assert (project / "out" / "metrics.json").read_text() == '{"acc": 0.9}'
    breakdown = result.stderr.strip().splitlines()[-2]
    for stage in ("apply", "ssh wait", "bootstrap", "sync", "run", "fetch", "destroy", "total"):
        assert f"{stage} " in breakdown
    assert containers(lc.prefix) == []
    assert open_store(lc.state).names() == []
    # the normal LXD teardown is said as such, not as a machine Terraform lost
    assert "before terraform destroy" in result.stderr
    assert "which no Terraform state holds" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_cancels_and_destroys(lifecycle, project, signum: int) -> None:
    lc = lifecycle
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cmlinfra",
            *exec_args(lc, f"{lc.prefix}cancel", "bash", "-c", "echo started; sleep 600"),
        ],
        env=cli_env(lc.env()),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"  # the command is running remotely
    proc.send_signal(signum)  # SIGTERM: what a CI runner does when the job is cancelled
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 128 + signum  # 143 / 130: CI shows the job as cancelled
    assert "failed at step run: cancelled; everything it created was destroyed" in err
    wait_until(lambda: containers(lc.prefix) == [], 30, "the container to be gone")
    store = open_store(lc.state)
    assert (store.names(), store.lock_names()) == ([], [])


def test_a_step_that_lacks_something_is_the_error_line(lifecycle, cli, project) -> None:
    """A bootstrap step's own one-line diagnosis reaches ``cmlinfra: error:``, and the machine
    is destroyed. The machine's image is the local one without apt-get (an image of another
    family, published for this test), so the docker step that --docker-image needs cannot
    install Docker."""
    lc = lifecycle
    alias, source, name = f"{lc.prefix}noapt", f"{lc.prefix}noapt-src", f"{lc.prefix}noapt-run"
    lxc("init", IMAGE, source)
    try:
        lxc("file", "delete", f"{source}/usr/bin/apt-get")
        lxc("publish", source, "--alias", alias, "--compression", "none")
    finally:
        lxc("delete", source, check=False)
    try:
        result = cli(
            "exec", "--cloud", "lxd", "--cloud-image", alias, "--name", name,
            "--state", lc.state, "--docker-image", "cmlt/none:1", "--", "true",
            env=lc.env(), cwd=project,
        )  # fmt: skip
    finally:
        lxc("image", "delete", alias, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"cmlinfra: error: exec {name} failed at step bootstrap: {name}: step docker failed "
        "with exit code 1: Docker is not installed and this host has no apt-get to install it; "
        "use a Debian or Ubuntu image, or a --cloud-image that has Docker; see its last output "
        "lines above; fix the cause and re-run (finished steps are skipped); everything it "
        "created was destroyed"
    )
    assert containers(lc.prefix) == []
    assert open_store(lc.state).names() == []
