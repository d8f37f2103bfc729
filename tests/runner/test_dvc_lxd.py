"""The CML workflow end to end on the real LXD cloud, with real DVC and TensorBoard.

One module-scoped world: a moto S3 server on the LXD bridge's address (so containers reach it;
only for this module, never on 0.0.0.0), a git origin, and a DVC project whose data is pushed.
Then, in order: ``exec --dvc --commit`` pulls on a container, trains, pushes the model and the
lock lands on ``main``, from which a fresh clone pulls the same model; a second run with changed
params, watched live through ``--tensorboard``, is reported against ``main``; a failing stage
passes its exit code through. Each run's container is gone afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from cmlinfra.stack.service import provider_mirror
from tests.fixtures.cli import REPO_ROOT, cli_env, run_cli
from tests.fixtures.dvc_repo import DvcProject, git, make_project, run
from tests.fixtures.moto import AWS_ENV, create_bucket, moto_on_bridge

pytestmark = [pytest.mark.lxd, pytest.mark.slow]


@dataclass
class World:
    project: DvcProject
    origin: Path
    env: dict[str, str]
    state: str
    prefix: str
    tmp: Path

    def exec(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("--json", *self.exec_args(name, *args), env=self.env, cwd=self.project.root)

    def exec_args(self, name: str, *args: str) -> list[str]:
        return ["exec", "--cloud", "lxd", "--name", name, "--state", self.state, *args]

    def gone(self, name: str) -> None:
        listing = ["lxc", "list", "--format", "csv", "-c", "n"]
        listed = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
        assert name not in listed
        assert not (Path(self.env["CMLINFRA_HOME"]) / "stacks" / name).exists()


@pytest.fixture(scope="module")
def world(lxd, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    with moto_on_bridge() as endpoint:
        bucket = f"e2e-{secrets.token_hex(3)}"
        create_bucket(endpoint, bucket)
        tmp = tmp_path_factory.mktemp("dvclxd")
        origin = tmp / "origin.git"
        project = make_project(tmp / "project", endpoint, bucket, AWS_ENV, origin)
        env = {
            **AWS_ENV,
            "CMLINFRA_HOME": str(tmp / "home"),
            # the toolboxes (DVC, TensorBoard for the machine) are built once per checkout
            "CMLINFRA_CACHE": str(REPO_ROOT / ".cache" / "cmlinfra"),
            "CMLINFRA_PROVIDER_MIRROR": str(provider_mirror()),  # still localcloud.sh's
        }
        yield World(project, origin, env, str(tmp / "state"), lxd.prefix, tmp)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_exec_pulls_trains_pushes_and_commits_the_lock(world: World) -> None:
    name = f"{world.prefix}dvc1"
    done = world.exec(name, "--commit")
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout)
    for path in ("dvc.lock", "metrics.json", "loss.json"):
        assert path in summary["artifacts"]
    for stage in ("dvc setup", "dvc pull", "run", "dvc push", "destroy"):
        assert stage in summary["timings"]
    assert "1 file fetched" in done.stderr  # the data came from the remote, not the tree
    assert "credentials: a root-only file" in done.stderr
    assert "testing" not in done.stderr  # the AWS keys never reach the output
    assert any(n.startswith("--commit: pushed") and "dvc.lock" in n for n in summary["notes"])
    world.gone(name)
    # the lock is on main at the origin; a fresh clone pulls the very model the machine trained
    lock = yaml.safe_load(run(["git", "--git-dir", str(world.origin), "show", "main:dvc.lock"],
                              world.tmp))  # fmt: skip
    out = next(o for o in lock["stages"]["train"]["outs"] if o["path"] == "model/model.bin")
    clone = world.tmp / "clone"
    git(world.tmp, "clone", "-q", str(world.origin), str(clone))
    fresh = DvcProject(clone, world.project.env)
    fresh.dvc("pull", "-q")
    assert _md5(clone / "model" / "model.bin") == out["md5"]
    assert json.loads((clone / "metrics.json").read_text())["accuracy"] > 0


def _tensorboard_url(proc: subprocess.Popen[str], seen: list[str]) -> str:
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        found = re.match(r"TensorBoard: (http://127\.0\.0\.1:\d+/)", line)
        if found:
            return found.group(1)
    raise AssertionError("exec ended without a TensorBoard URL:\n" + "".join(seen[-40:]))


def _scalars(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url + "data/plugin/scalars/tags", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_second_run_with_new_params_is_watched_live_and_reported(world: World) -> None:
    project = world.project
    git(project.root, "switch", "-q", "-c", "exp")
    project.set_params(lr=0.3)
    git(project.root, "commit", "-q", "-am", "faster")
    name = f"{world.prefix}dvc2"
    wait = "for i in $(seq 480); do [ -e /tmp/seen ] && exit 0; sleep 0.25; done; exit 7"
    command = ["bash", "-c", f"dvc repro && {wait}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmlinfra", "--json",
         *world.exec_args(name, "--tensorboard", "logs", "--", *command)],
        cwd=project.root, env=cli_env(world.env), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    seen: list[str] = []
    try:
        url = _tensorboard_url(proc, seen)
        deadline = time.monotonic() + 180
        while "loss" not in json.dumps(_scalars(url).get("train", {})):  # the run's own curve
            assert time.monotonic() < deadline, "TensorBoard never showed the training's loss"
            time.sleep(1)
        subprocess.run(["lxc", "exec", name, "--", "touch", "/tmp/seen"], check=True)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, ("".join(seen) + err)[-4000:]
    world.gone(name)
    assert list((project.root / "logs" / "train").glob("*tfevents*"))  # came back
    report = world.tmp / "report" / "report.md"
    built = run_cli("--json", "report", "build", "--dvc", "--base", "main", "--tensorboard",
                    "logs", "--no-step-summary", "--out", str(report),
                    env=world.env, cwd=project.root)  # fmt: skip
    assert built.returncode == 0, built.stderr
    text = report.read_text()
    assert "| `lr` | 0.3 | 0.1 | +0.2 |" in text  # the change that was made
    assert re.search(r"\| `accuracy` \| [\d.]+ \| [\d.]+ \| \+[\d.]+ \|", text), text
    assert re.search(r"\| `loss` \| [\d.]+ \|", text)  # TensorBoard's last value
    captions = [i["caption"] for i in json.loads(built.stdout)["images"]]
    assert "loss.json" in captions and "loss (TensorBoard)" in captions
    for image in json.loads(built.stdout)["images"]:
        assert Path(image["path"]).read_bytes().startswith(b"\x89PNG")


def test_failing_stage_passes_its_exit_code_and_destroys(world: World) -> None:
    project = world.project
    project.set_params(lr=-1.0)  # train.py exits 3; dvc repro reports the stage as failed
    name = f"{world.prefix}dvc3"
    try:
        done = world.exec(name)
    finally:
        git(project.root, "checkout", "--", "params.json")
    assert done.returncode != 0 and done.returncode == json.loads(done.stdout)["exit_code"]
    assert "lr must be positive" in done.stderr
    assert "nothing was pushed to the remote" in done.stderr
    world.gone(name)
