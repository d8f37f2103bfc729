"""A spot reclaim mid-job, end to end on the real local cloud. Two LXD projects of this
module's own stand in for two zones. ``exec`` lands on the first and starts a training script
that checkpoints a step counter into ``--checkpoint-dir``; once it has reached step 3, a real
HTTP server on the container's own loopback starts answering as EC2's instance metadata
service does when a spot instance is being taken back (tests/runner/metadata_server.py). The
watcher on the machine hears it, stops the script and packs its checkpoint; exec brings it
back, destroys the machine, and runs the script again on the second project with the
checkpoint restored: it resumes at step 3 and finishes. Nothing is left anywhere."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cmlinfra.runner.store import open_store
from tests.forge_server.state import StoredJob
from tests.runner.conftest import lxc, wait_until

pytestmark = pytest.mark.lxd

PORT = 8169
SERVER = Path(__file__).with_name("metadata_server.py")
TRAIN = """\
import pathlib
import time

ckpt = pathlib.Path("ckpt")
ckpt.mkdir(exist_ok=True)
counter = ckpt / "counter"
start = int(counter.read_text()) if counter.exists() else 0
print(f"starting at step {start}", flush=True)
for step in range(start + 1, 6):
    counter.write_text(str(step))
    print(f"step {step}", flush=True)
    while start == 0 and step == 3:  # a long training run, until the cloud takes it back
        time.sleep(1)
print(f"done; resumed from {start}", flush=True)
"""


@pytest.fixture(scope="module")
def zones(lxd) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    tag = f"rc{secrets.token_hex(3)}"
    made = (f"{tag}-a", f"{tag}-b")
    try:
        for project in made:
            lxc("project", "create", project, "-c", "features.images=false", "-c",
                "features.profiles=false")  # fmt: skip
        yield made
    finally:
        for project in made:
            listing = subprocess.run(
                ["lxc", "list", "--project", project, "--format", "csv", "-c", "n"],
                capture_output=True,
                text=True,
                check=False,
            )
            for name in listing.stdout.split():
                lxc("delete", "--force", "--project", project, name, check=False)
            lxc("project", "delete", project, check=False)


def _in(project: str, name: str, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["lxc", "exec", "--project", project, name, "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _announce(project: str, name: str) -> None:
    """Start the IMDS-shaped server on the container's loopback, announcing the reclaim."""
    lxc("file", "push", "--project", project, str(SERVER), f"{name}/root/metadata_server.py")
    serve = f"python3 /root/metadata_server.py {PORT} aws --notice"
    _in(project, name, "bash", "-c", f"setsid nohup {serve} >/dev/null 2>&1 &")


def _reclaimed_run(lc, cli, first: str, work: Path, *extra: str):  # type: ignore[no-untyped-def]
    """exec train.py on the first zone (then the second); the reclaim announced at step 3."""
    name = f"{lc.prefix}rc"
    work.mkdir()
    (work / "train.py").write_text(TRAIN)
    env = {
        **lc.env(),
        "CMLINFRA_INTERRUPTION": "aws",  # LXD announces nothing: watch EC2's notice
        "CMLINFRA_METADATA_URL": f"http://127.0.0.1:{PORT}",
    }
    args = ["--json", "exec", "--cloud", "lxd", "--name", name, "--state", lc.state]
    args += ["--checkpoint-dir", "ckpt/", *extra]
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(cli, *args, "--", "python3", "train.py", env=env, cwd=work)

        def at_step_3() -> bool:
            if running.done():
                return True  # it ended early: the assertion below says how
            read = _in(first, name, "cat", "/opt/cmlinfra/work/ckpt/counter")
            return read.stdout.strip() == "3"

        wait_until(at_step_3, 600, "the script to reach step 3 on the first zone")
        assert not running.done(), running.result().stderr[-3000:]
        _announce(first, name)
        return running.result(timeout=900)


def test_a_reclaimed_exec_resumes_from_its_checkpoint_on_the_next_zone(
    lifecycle, cli, zones: tuple[str, str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first, second = zones
    lc = lifecycle
    region = ["--cloud-region", f"{first},{second}"]
    result = _reclaimed_run(lc, cli, first, tmp_path / "work", *region)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout)
    (event,) = summary["reclaims"]
    assert event["region"] == first and event["checkpoint"] == "saved"
    assert event["notice"].startswith('spot instance-action: {"action": "terminate"')
    assert summary["machine"]["region"] == second
    said = result.stderr
    assert "starting at step 0" in said and "done; resumed from 3" in said
    assert f"reclaimed on {first} m (spot instance-action" in said
    assert f"→ running again on {second} m from its checkpoint (restart 1/1)" in said
    for project in zones:
        assert json.loads(lxc("list", "--project", project, "--format", "json")) == []
    assert open_store(lc.state).names() == []


def test_no_restarts_left_exits_non_zero_with_the_checkpoint_here(
    lifecycle, cli, zones: tuple[str, str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first, _ = zones
    lc = lifecycle
    work = tmp_path / "work"
    result = _reclaimed_run(lc, cli, first, work, "--cloud-region", first, "--max-restarts", "0")
    assert result.returncode != 0
    assert "--max-restarts 0 is reached; its last checkpoint is in" in result.stderr
    assert (work / "ckpt" / "counter").read_text() == "3"
    assert json.loads(result.stdout)["reclaims"][0]["checkpoint"] == "saved"
    assert json.loads(lxc("list", "--project", first, "--format", "json")) == []
    assert open_store(lc.state).names() == []


def test_a_reclaimed_runner_unregisters_and_ends_its_machine(lifecycle, cli) -> None:  # type: ignore[no-untyped-def]
    """Runner mode: the watcher (a systemd service) hears the notice, stops the agent, runs
    the runner's unregister script where it has one, and powers the ephemeral container off
    (deleted)."""
    lc = lifecycle
    name = f"{lc.prefix}rr"
    env = {**lc.env(), "CMLINFRA_INTERRUPTION": "aws",
           "CMLINFRA_METADATA_URL": f"http://127.0.0.1:{PORT}"}  # fmt: skip
    # launched by a GitHub Actions job (run 981, on a hosted runner): the record says which
    ci = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "981", "RUNNER_NAME": "GitHub Actions 5"}
    launched = cli(*lc.launch_args(name, "--single", "--idle-timeout", "1h"), env={**env, **ci})
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert lc.runners() == [name]
    store = open_store(lc.state)
    record = store.get(name)
    assert record is not None and record.launched_by == {"run": "981", "runner": ci["RUNNER_NAME"]}
    # LXD has no spot machines (the watcher is forced here): the record says spot, as on AWS
    record.spot = True
    store.put(record)
    quiet = _in("default", name, "/usr/local/lib/cmlinfra/reclaim", "check")
    assert quiet.stdout.strip() == "no notice"  # nothing announced: nothing done
    _announce("default", name)
    # idle timeout 1h, no job: only the reclaim ends it (agent stopped, powered off, deleted)
    wait_until(
        lambda: name not in lxc("list", "--format", "csv", "-c", "n").split(),
        120,
        "the container to end itself",
    )
    # the job it ran is lost; the launch job before it, of the same run, succeeded
    repo = lc.forge.state.repo("github", "acme/ml")
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created + 1))
    for job_id, job_name, runner, conclusion in (
        (9810, "launch", ci["RUNNER_NAME"], "success"),
        (9811, "train", name, "failure"),
    ):
        runner_id = int(record.runner_id) if runner == name else 3
        job = StoredJob(job_id, 981, job_name, runner_id, runner, "completed", conclusion)
        job.started_at = job.created_at = when
        repo.jobs.append(job)
    # a GitHub runner's own credentials cannot unregister it: gc does, as after any end, and
    # first re-runs the launch job, which brings the lost job that needs it
    report = json.loads(cli(*lc.gc_args("--yes"), env=lc.env()).stdout)
    assert [(f["kind"], f["status"]) for f in report["findings"]] == [("machine-gone", "fixed")]
    assert [(r["job"], r["outcome"]) for r in report["findings"][0]["reruns"]] == [
        ("9811", "rerun")
    ]
    assert repo.job_reruns == [9810]
    assert lc.runners() == [] and open_store(lc.state).names() == []


@contextlib.contextmanager
def _checkpointing_runner(lc, cli, monkeypatch, name: str, driver: str):  # type: ignore[no-untyped-def]
    """``runner launch --checkpoint-dir ckpt`` with the registry in S3 (moto on the LXD bridge,
    which the container reaches), the record marked spot; yields (store, record)."""
    from tests.fixtures.moto import AWS_ENV, create_bucket, moto_on_bridge

    with moto_on_bridge() as endpoint:
        create_bucket(endpoint, "ckpt-state")
        lc.state = f"s3://ckpt-state/runners?region=us-east-1&endpoint={endpoint}&lock=lockfile"
        lc.extra_env.update(AWS_ENV)
        for key, value in AWS_ENV.items():  # this process reads the registry too
            monkeypatch.setenv(key, value)
        env = {**lc.env(), "CMLINFRA_INTERRUPTION": "aws",
               "CMLINFRA_METADATA_URL": f"http://127.0.0.1:{PORT}"}  # fmt: skip
        args = lc.launch_args(
            name, "--single", "--idle-timeout", "1h", "--checkpoint-dir", "ckpt", driver=driver
        )
        launched = cli(*args, env=env)
        assert launched.returncode == 0, launched.stderr[-3000:]
        store = open_store(lc.state)
        record = store.get(name)
        assert record is not None
        record.spot = True  # LXD has no spot machines (the watcher is forced here)
        store.put(record)
        url_file = _in(
            "default", name, "stat", "-c", "%U %a", "/usr/local/lib/cmlinfra/checkpoint.url"
        )
        assert url_file.stdout.split() == ["root", "600"], url_file.stderr
        assert "X-Amz-Signature" not in launched.stdout + launched.stderr  # never logged
        yield store, record


def _reclaimed(name: str) -> None:
    _announce("default", name)
    wait_until(
        lambda: name not in lxc("list", "--format", "csv", "-c", "n").split(),
        120,
        "the container to end itself",
    )


def test_a_reclaimed_runner_saves_the_jobs_checkpoint_for_its_rerun(
    lifecycle, cli, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """``runner launch --checkpoint-dir`` with the registry in S3: a job starts (its hook
    records run, name and workspace) and writes a checkpoint; on the notice the watcher uploads
    it through the presigned URLs it was given (root-only, no credential on the machine); gc
    re-runs the lost job and moves the checkpoint to the job's key; the re-run's ``checkpoint
    restore`` gets it back."""
    lc = lifecycle
    name = f"{lc.prefix}rk"
    with _checkpointing_runner(lc, cli, monkeypatch, name, "github") as (store, record):
        # a job of run 982 starts, as the agent does it: the hook as the agent's user, then
        # the job writes its checkpoint into its workspace
        ws = "/tmp/work/ml/ml"
        job = (
            f"mkdir -p {ws}/ckpt && echo 3 > {ws}/ckpt/counter && GITHUB_RUN_ID=982 "
            f"GITHUB_JOB=train GITHUB_WORKSPACE={ws} bash /usr/local/lib/cmlinfra/job-started.sh"
        )
        started = _in("default", name, "runuser", "-u", "runner", "--", "bash", "-c", job)
        assert started.returncode == 0, started.stderr
        _reclaimed(name)
        about = store.get_blob(name, "checkpoint.env")
        assert about is not None and b"run_id=982\njob=train\n" in about
        repo = lc.forge.state.repo("github", "acme/ml")
        lost = StoredJob(9821, 982, "train", int(record.runner_id), name, "completed", "failure")
        lost.started_at = lost.created_at = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created + 1)
        )
        repo.jobs.append(lost)
        report = json.loads(cli(*lc.gc_args("--yes"), env=lc.env()).stdout)
        [rerun] = report["findings"][0]["reruns"]
        key = "runners/checkpoints/github/acme/ml/982/train.tgz"
        assert (rerun["job"], rerun["outcome"], rerun["checkpoint"]) == ("9821", "rerun", key)
        assert repo.job_reruns == [9821]
        # the re-run attempt: same run, same job name
        ci = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/ml", "GITHUB_RUN_ID": "982",
              "GITHUB_JOB": "train"}  # fmt: skip
        work = lc.home / "rerun"
        work.mkdir(parents=True)
        restored = cli("checkpoint", "restore", "--state", lc.state, "ckpt",
                       env={**lc.env(), **ci}, cwd=work)  # fmt: skip
        assert restored.returncode == 0 and "restored the checkpoint" in restored.stdout
        assert (work / "ckpt/counter").read_text().strip() == "3"
        assert lc.runners() == [] and store.names() == []


def test_a_reclaimed_gitlab_runner_saves_the_jobs_checkpoint_for_its_retry(
    lifecycle, cli, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The same on GitLab, for a leg of a ``parallel: matrix`` job: it runs in the container as
    GitLab Runner's shell executor runs a job (the stand-in of tests/runner/gitlab_job.py,
    whose pre/post_build_script are the ones the runner is registered with), as the agent's
    user, and is still training when the notice comes; gc retries it and keeps the checkpoint
    at the key its retry names from CI_PROJECT_PATH, CI_PIPELINE_ID and CI_JOB_NAME."""
    from cmlinfra.runner.checkpoints import job_key
    from tests.runner import gitlab_job

    lc = lifecycle
    name, leg, ws = f"{lc.prefix}rg", "train: [a, 1]", "/tmp/builds/acme/ml"
    with _checkpointing_runner(lc, cli, monkeypatch, name, "gitlab") as (store, record):
        ci = {"CI_PIPELINE_ID": "983", "CI_JOB_NAME": leg, "CI_PROJECT_DIR": ws}
        training = ["mkdir -p ckpt && echo 3 > ckpt/counter", "sleep infinity"]
        script = lc.home / "job.sh"
        script.write_text(gitlab_job.step_script(None, ci, training))
        lxc("file", "push", str(script), f"{name}/tmp/job.sh")
        job = f"mkdir -p {ws} && setsid -f bash /tmp/job.sh </dev/null >/dev/null 2>&1"
        started = _in("default", name, "runuser", "-u", "runner", "--", "bash", "-c", job)
        assert started.returncode == 0, started.stderr
        wait_until(
            lambda: "pid_start=" in _in("default", name, "cat", "/var/lib/cmlinfra/job.env").stdout,
            60,
            "the job's pre_build_script",
        )
        _reclaimed(name)
        about = store.get_blob(name, "checkpoint.env")
        assert about is not None and f"run_id=983\njob={leg}\n".encode() in about
        repo = lc.forge.state.repo("gitlab", "acme/ml")
        lost = StoredJob(9831, 983, leg, int(record.runner_id), name, "failed")
        lost.started_at = lost.created_at = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created + 1)
        )
        repo.jobs.append(lost)
        report = json.loads(cli(*lc.gc_args("--yes", driver="gitlab"), env=lc.env()).stdout)
        [rerun] = report["findings"][0]["reruns"]
        key = job_key(store, "gitlab", "acme/ml", "983", leg)
        assert key is not None and "/gitlab/acme/ml/983/_train-a-1-" in key
        assert (rerun["job"], rerun["outcome"], rerun["checkpoint"]) == ("9831", "rerun", key)
        assert repo.job_reruns == [9831]
        retry = {"GITLAB_CI": "true", "CI_PROJECT_PATH": "acme/ml", "CI_PIPELINE_ID": "983",
                 "CI_JOB_NAME": leg}  # fmt: skip
        work = lc.home / "retry"
        work.mkdir(parents=True)
        restored = cli("checkpoint", "restore", "--state", lc.state, "ckpt",
                       env={**lc.env(), **retry}, cwd=work)  # fmt: skip
        assert restored.returncode == 0 and "restored the checkpoint" in restored.stdout
        assert (work / "ckpt/counter").read_text().strip() == "3"
        assert lc.runners("gitlab") == [] and store.names() == []
