"""``runner launch --checkpoint-dir`` for GitLab runners: the runner is registered with the job
hooks as its ``pre_build_script``/``post_build_script``, so each job records itself in job.env
(and forgets itself when its script succeeds); a job whose script failed or was cancelled
never runs ``post_build_script``, and the reclaim watcher then saves nothing of it, since the
shell job.env names is gone. Jobs run in a stand-in of GitLab Runner's shell executor
(tests/runner/gitlab_job.py) with the real rendered hooks and watcher; uploads go to a real S3
server (moto). Any GitLab job name (``parallel``, ``parallel: matrix``) names a key."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from cmlinfra.clouds import cloud_info
from cmlinfra.runner import checkpoint_urls, checkpoints, reclaim
from cmlinfra.runner.agents import GITLAB_CONFIG, GITLAB_TEMPLATE, UNIT, plan_agent
from cmlinfra.runner.store import S3Store
from cmlinfra.runner.watchdog import HOOK_COMPLETED, HOOK_STARTED, WatchdogPolicy, render_install
from tests.runner import gitlab_job
from tests.runner.conftest import wait_until
from tests.runner.test_agents import registration
from tests.runner.test_checkpoints import metadata, s3  # noqa: F401  (the fixtures)

NAME = "train: [a, 1]"  # a leg of a parallel: matrix job


def _variables(workspace: Path, name: str = NAME) -> dict[str, str]:
    return {"GITLAB_CI": "true", "CI_PIPELINE_ID": "951", "CI_JOB_NAME": name,
            "CI_PROJECT_PATH": "group/sub/demo", "CI_PROJECT_DIR": str(workspace)}  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The watchdog's files installed into a temporary root, job.env and events.log given
    to this user as install.sh gives them to the runner's user."""
    import getpass

    top = tmp_path / "root"
    policy = WatchdogPolicy(agent_user=getpass.getuser())
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "systemctl").write_text("#!/bin/sh\n")
    (shims / "systemctl").chmod(0o755)
    env = {"PATH": f"{shims}:{os.environ['PATH']}", "CMLINFRA_ROOT": str(top)}
    subprocess.run(["bash", "-s"], input=render_install(policy), env=env, text=True, check=True)
    return top


def _state(root: Path, name: str) -> str:
    return (root / "var/lib/cmlinfra" / name).read_text()


def test_the_runner_is_registered_once_with_the_hooks_in_every_job(tmp_path: Path) -> None:
    plan = plan_agent(
        registration("gitlab", "runner-token"), name="cml-a1", labels=[], single=False
    )
    [runner] = tomllib.loads(plan.files[GITLAB_TEMPLATE][1])["runners"]
    assert runner == {
        "pre_build_script": f'{HOOK_STARTED} "$$" || true',
        "post_build_script": f'{HOOK_COMPLETED} "$$" || true',
    }
    assert plan.user == "gitlab-runner"  # the hooks run as the user jobs run as
    unit = plan.files[f"/etc/systemd/system/{UNIT}"][1]
    [pre] = [
        line.partition("=")[2] for line in unit.splitlines() if line.startswith("ExecStartPre=")
    ]
    assert f"--template-config {GITLAB_TEMPLATE} --executor shell" in pre
    # the pre-start command as systemd splits it, with a stand-in gitlab-runner that registers
    calls, config = tmp_path / "calls", tmp_path / "config.toml"
    binary = tmp_path / "gitlab-runner"
    binary.write_text(f'#!/bin/sh\necho "$*" >>{calls}\nprintf "[[runners]]\\n" >>{config}\n')
    binary.chmod(0o755)
    argv = shlex.split(pre.replace("/usr/local/bin/gitlab-runner", str(binary)))
    argv = [arg.replace(GITLAB_CONFIG, str(config)) for arg in argv]
    for _ in range(2):  # the agent restarted: its runner is in the config already
        subprocess.run(argv, check=True, timeout=30)
    assert len(calls.read_text().splitlines()) == 1
    assert config.read_text() == "[[runners]]\n"


def test_a_job_records_itself_and_forgets_itself_when_its_script_succeeds(
    root: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "builds/group/sub/demo"
    ws.mkdir(parents=True)
    copy = 'cp "$CMLINFRA_ROOT/var/lib/cmlinfra/job.env" seen.env'  # what a reclaim would see
    shell = gitlab_job.start(root, _variables(ws), [copy])
    assert shell.wait(timeout=60) == 0
    seen = reclaim.parse((ws / "seen.env").read_text())
    assert (seen["run_id"], seen["job"], seen["workspace"]) == ("951", NAME, str(ws))
    assert seen["pid"] == str(shell.pid) and seen["pid_start"].isdigit()
    assert _state(root, "job.env") == ""  # post_build_script: a reclaim now saves nothing
    events = [line.split()[::2] for line in _state(root, "events.log").splitlines()]
    assert events == [["script-started", "951"], ["script-completed", "951"]]


def test_a_failed_script_leaves_its_ended_shell_in_job_env_and_hooks_never_fail_a_job(
    root: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    shell = gitlab_job.start(root, _variables(ws), ["exit 3"])
    assert shell.wait(timeout=60) == 3
    assert f"pid={shell.pid}\n" in _state(root, "job.env")  # no post_build_script ran
    assert [line.split()[0] for line in _state(root, "events.log").splitlines()] == [
        "script-started"
    ]
    # hooks missing or unwritable (another root): the job runs all the same
    assert gitlab_job.run(tmp_path / "nothing", _variables(ws), ["true"]) == 0


@pytest.mark.parametrize("ending", ["running", "failed", "cancelled", "pid-reused"])
def test_the_watcher_saves_a_running_job_only(
    s3: tuple[S3Store, str],  # noqa: F811
    metadata: str,  # noqa: F811
    root: Path,
    tmp_path: Path,
    ending: str,
) -> None:
    """A reclaim while the job's script runs uploads its checkpoint and says which job it is;
    once the script failed, was cancelled, or job.env's PID is another process's now (its
    start time differs), nothing is saved and nothing uploaded."""
    store, _ = s3
    watch = reclaim.Watch(
        cloud_info("aws").capabilities.interruption, metadata, checkpoint_dir="ckpt",
        runner=True, upload=checkpoints.URL_FILE,
    )  # fmt: skip
    script = tmp_path / "reclaim"
    script.write_text(reclaim.render(watch))
    secret = root / checkpoints.URL_FILE.lstrip("/")
    secret.write_text("\n".join(checkpoint_urls.presign(store, "ckpt-a", 3600)) + "\n")
    ws, fifo = tmp_path / "ws", tmp_path / "go"
    ws.mkdir()
    os.mkfifo(fifo)
    work = ["mkdir -p ckpt && echo 3 > ckpt/step", "exit 3" if ending == "failed" else ""]
    work.append(f"read -r _ <{fifo}")  # training, until the test lets it go
    shell = gitlab_job.start(root, _variables(ws), [line for line in work if line])
    try:
        if ending != "failed":
            wait_until(lambda: "pid_start=" in _state(root, "job.env"), 30, "the job to start")
        if ending == "cancelled":
            shell.kill()
        if ending == "pid-reused":
            job = root / "var/lib/cmlinfra/job.env"
            job.write_text(re.sub(r"pid_start=\d+", "pid_start=1", job.read_text()))
        if ending in ("failed", "cancelled"):
            shell.wait(timeout=60)
        env = {**os.environ, "CMLINFRA_ROOT": str(root), "CMLINFRA_NO_CURL": "1"}
        heard = subprocess.run(["bash", str(script), "check"], env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert heard.returncode == 0, heard.stderr
    finally:
        shell.kill()
        shell.wait(timeout=60)
    mark = reclaim.parse(_state(root, "reclaim"))
    about = store.get_blob("ckpt-a", checkpoint_urls.ABOUT)
    if ending == "running":
        assert (mark["job"], mark["checkpoint"], mark["checkpoint_upload"]) == (NAME, "saved", "ok")
        assert about is not None and f"run_id=951\njob={NAME}\n".encode() in about
    else:
        assert (mark["job"], mark["checkpoint"]) == ("", "no-workspace")
        assert "checkpoint_upload" not in mark and about is None
    assert mark["run_id"] == "951"  # the newest job the hooks saw, for the record


def test_any_job_name_has_its_own_key_and_plain_names_keep_theirs(
    s3: tuple[S3Store, str],  # noqa: F811
) -> None:
    store, _ = s3
    run = "team/checkpoints/gitlab/group/sub/demo/951/"

    def key(name: str) -> str:
        found = checkpoints.job_key(store, "gitlab", "group/sub/demo", "951", name)
        assert found is not None and found.startswith(run) and ".." not in found
        return found.removeprefix(run)

    for plain in ("train", "build-1", "Test job 2", "v1.2_x"):
        assert key(plain) == f"{plain}.tgz"  # as for GitHub's job ids: unchanged
    odd = ["train: [a, 1]", "train: [a, 2]", "train 1/3", "train 2/3", "train [a,1]", "../x",
           "a..b", "déjà vu", "x" * 300, "-", "train.tgz/x"]  # fmt: skip
    leaves = [key(name) for name in odd]
    assert len(set(leaves)) == len(odd)  # none shares a key
    assert all(re.fullmatch(r"_[A-Za-z0-9._-]{1,60}-[0-9a-f]{12}\.tgz", leaf) for leaf in leaves)
    assert leaves[0].startswith("_train-a-1-") and leaves[2].startswith("_train-1-3-")
    assert key(odd[0]) == leaves[0]  # the same name, the same key (gc's and restore's)
    assert checkpoints.job_key(store, "gitlab", "group/../x", "951", "train") is None
    # a URL is not the forge's name for it (under https://host/gitlab its path says gitlab/…)
    assert checkpoints.job_key(store, "gitlab", "https://h/gitlab/g/x", "951", "train") is None
    assert checkpoints.job_key(store, "gitlab", "group/x", "9/5", "train") is None
    assert checkpoints.job_key(store, "gitlab", "group/x", "951", "") is None
