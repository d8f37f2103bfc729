"""``gc`` re-runs, once, the CI job a spot runner lost when its machine was reclaimed.

Through the real command: a registry of records on the fake cloud (tests/clouds/contract/
fakecloud, a cloud with an inventory and nothing to boot) whose machines are gone, and the fake
forge (every request and answer checked against the vendor's OpenAPI description) holding the
jobs those runners ran. The teardown is the real one (unregister at the forge, destroy, forget).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds import PLUGINS_ENV
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.rerun import launcher_job
from cmlinfra.runner.store import RunnerStore, open_store
from tests.clouds.contract.fakecloud import api
from tests.clouds.contract.harness_fake import PLUGIN
from tests.fixtures.cli import CliRunner
from tests.fixtures.forge import ForgeRepo
from tests.forge_server.state import StoredJob, StoredRunner

RUNNER_ID = 4711


def stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


@dataclass
class World:
    repo: ForgeRepo
    store: RunnerStore
    state: str
    env: dict[str, str]
    created: float
    run_cli: CliRunner

    def record(self, name: str, *, spot: bool = True, **extra: Any) -> RunnerRecord:
        """A ready runner record on the fake cloud whose machine no longer exists, and its
        runner still registered at the forge (where, as ``runner launch`` records it)."""
        record = RunnerRecord(name=name, cloud="fake", region="fz-a", phase="ready", spot=spot)
        context = self.repo.context()
        record.forge, record.repo = self.repo.forge, context.repo_url
        record.web_url, record.api_url = context.web_url, context.api_url
        record.created, record.runner_id = self.created, str(RUNNER_ID)
        for key, value in extra.items():
            setattr(record, key, value)
        self.store.put(record)
        if self.repo.forge != "bitbucket" and record.runner_id:
            runner = StoredRunner(int(record.runner_id), name, ["cml"], "", status="offline")
            self.repo.state.runners[runner.id] = runner
        return record

    def job(self, run: int | str, name: str, runner: str | None, status: str, **kw: Any) -> int:
        """A job that ran on ``runner`` (our runner's id goes with our name)."""
        job_id = kw.pop("job_id", None) or self.repo.server.state.next_id()
        runner_id = kw.pop("runner_id", RUNNER_ID if runner == "cmlf-spot" else 99)
        conclusion = kw.pop("conclusion", None)
        started = kw.pop("started", self.created + 60)
        job = StoredJob(job_id, run, name, runner_id, runner, status, conclusion, **kw)  # type: ignore[arg-type]
        job.started_at, job.created_at = stamp(started), stamp(self.created - 30)
        self.repo.state.jobs.append(job)
        return int(job_id) if str(job_id).isdigit() else 0

    def gc(self, *args: str, code: int = 0) -> dict[str, Any]:
        result = self.run_cli("--json", "gc", "--state", self.state, *args, env=self.env)
        assert result.returncode == code, result.stderr + result.stdout
        return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    forge_repo: Callable[..., ForgeRepo],
    cli: CliRunner,
    request: pytest.FixtureRequest,
) -> World:
    root = tmp_path / "fakeapi"
    root.mkdir()
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)  # the CLI subprocesses inherit it
    monkeypatch.setenv(api.DIR_ENV, str(root))
    # "gitlab:/gitlab": a GitLab served under that relative URL
    kind, _, root = getattr(request, "param", "github").partition(":")
    repo = forge_repo(kind, root=root)
    state = str(tmp_path / "registry")
    env = {**repo.env(), "CMLINFRA_HOME": str(tmp_path / "home")}
    return World(repo, open_store(state), state, env, time.time() - 3600, cli)


def reruns(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["job"], r["outcome"]) for f in report["findings"] for r in f["reruns"]]


def test_a_lost_job_on_our_runner_is_rerun_exactly_once(world: World) -> None:
    world.record("cmlf-spot")
    ours = world.job(901, "train", "cmlf-spot", "completed", conclusion="failure")
    other = world.job(901, "lint", "someone-else", "completed", conclusion="failure")
    before = world.job(902, "old", "cmlf-spot", "completed", conclusion="failure", started=0)
    passed = world.job(903, "eval", "cmlf-spot", "completed", conclusion="success")

    report = world.gc()  # report only: says it would, asks nothing
    [finding] = report["findings"]
    assert finding["kind"] == "machine-gone" and "re-run the jobs it lost" in finding["action"]
    assert world.repo.state.job_reruns == []

    report = world.gc("--yes")
    [finding] = report["findings"]
    assert (finding["kind"], finding["status"]) == ("machine-gone", "fixed")
    assert reruns(report) == [(str(ours), "rerun")] and report["reruns"] == 1
    assert "re-ran 1 lost job" in finding["detail"]
    assert world.repo.state.job_reruns == [ours]  # not other, before or passed
    assert {other, before, passed}.isdisjoint(world.repo.state.job_reruns)
    assert world.store.names() == [] and world.repo.state.runners == {}

    assert world.gc("--yes")["findings"] == []  # the second gc: nothing, no second re-run
    assert world.repo.state.job_reruns == [ours]


def test_a_failed_teardown_and_a_second_gc_do_not_rerun_twice(world: World) -> None:
    world.record("cmlf-spot")
    ours = world.job(911, "train", "cmlf-spot", "completed", conclusion="cancelled")
    world.repo.server.fail("github", "DELETE", r"/actions/runners/", 500, "boom", times=None)

    first = world.gc("--yes", code=1)
    [finding] = first["findings"]
    assert finding["status"] == "failed" and reruns(first) == [(str(ours), "rerun")]
    kept = world.store.get("cmlf-spot")
    assert kept is not None and kept.rerun_done and kept.reran == [str(ours)]
    world.repo.server.faults.clear()  # the forge is back

    second = world.gc("--yes")
    [finding] = second["findings"]
    assert finding["status"] == "fixed" and reruns(second) == []
    assert "an earlier gc looked up its lost jobs already" in finding["detail"]
    assert world.repo.state.job_reruns == [ours]
    assert world.store.names() == []


def test_no_rerun_and_what_is_not_rerun(world: World) -> None:
    """--no-rerun re-runs nothing; a runner on demand, one launched with --no-retry, and a job
    that is already a re-run (attempt 2) are left, each said so."""
    world.record("cmlf-spot")
    world.job(921, "train", "cmlf-spot", "completed", conclusion="failure")
    report = world.gc("--yes", "--no-rerun")
    assert [f["status"] for f in report["findings"]] == ["fixed"] and reruns(report) == []
    assert "re-run" not in report["findings"][0]["action"]

    world.record("cmlf-spot", no_retry=True)
    world.record("cmlf-ondemand", spot=False, runner_id="")
    report = world.gc("--yes")
    details = {f["name"]: f["detail"] for f in report["findings"]}
    assert "launched with --no-retry" in details["cmlf-spot"]
    assert details["cmlf-ondemand"] == "its machine no longer exists"

    world.record("cmlf-spot")
    world.repo.state.jobs.clear()
    again = world.job(922, "train", "cmlf-spot", "completed", conclusion="failure", attempt=2)
    report = world.gc("--yes")
    assert reruns(report) == [(str(again), "skipped")]
    assert "already a re-run (attempt 2)" in report["findings"][0]["reruns"][0]["why"]
    assert world.repo.state.job_reruns == []


def test_a_forge_error_is_reported_per_finding_and_the_sweep_goes_on(world: World) -> None:
    world.record("cmlf-spot")
    ours = world.job(931, "train", "cmlf-spot", "completed", conclusion="failure")
    world.record("cmlf-ondemand", spot=False, runner_id="")
    world.repo.server.fail(
        "github", "POST", r"/actions/jobs/\d+/rerun", 500, "rerun broke", times=None
    )

    report = world.gc("--yes", code=1)
    status = {f["name"]: (f["status"], f["error"]) for f in report["findings"]}
    assert status["cmlf-ondemand"] == ("fixed", "")
    state, error = status["cmlf-spot"]
    assert state == "failed" and error == f"torn down, but could not re-run job {ours}"
    [rerun] = [r for f in report["findings"] for r in f["reruns"]]
    assert rerun["outcome"] == "failed" and "500" in rerun["why"]
    assert world.store.names() == []  # the machine's remains are gone all the same


def test_ids_from_the_api_are_checked_before_they_go_into_a_url(world: World) -> None:
    """A run id and a job id that would climb out of /repos/OWNER/REPO (an API answer
    outside its own description) are refused; no request leaves the repository's path."""
    world.record("cmlf-spot")
    world.job("5/../../../../orgs/evil", "train", "cmlf-spot", "completed", conclusion="failure")
    report = world.gc("--yes", code=1)
    [finding] = report["findings"]
    assert "is not a positive number" in finding["error"] and reruns(report) == []
    world.repo.server.take_violations()  # the fake flagged its own id as off-description

    world.record("cmlf-spot")
    world.repo.state.jobs.clear()
    world.job(940, "lint", "../cmlf-spot", "completed", conclusion="failure")  # not ours
    world.job(941, "train", "cmlf-spot", "completed", conclusion="failure", job_id="7/../../x")
    report = world.gc("--yes", code=1)
    assert "is not a positive number" in report["findings"][0]["error"]
    world.repo.server.take_violations()
    paths = [c.path for c in world.repo.server.api_calls("github")]
    assert not [p for p in paths if ".." in p or "evil" in p or "%2F" in p], paths
    assert world.repo.state.job_reruns == []


def test_an_organization_runners_jobs_are_not_looked_up(world: World, cli: CliRunner) -> None:
    """A runner of an organization's pool serves all its repositories: gc says it does not
    look for its jobs, tears it down, and the text report says so too."""
    world.record("cmlf-spot", repo=world.repo.context().repo_url.rsplit("/", 1)[0])
    world.job(961, "train", "cmlf-spot", "completed", conclusion="failure")
    result = cli("gc", "--state", world.state, "--yes", env=world.env)
    assert result.returncode == 0, result.stderr
    assert "lost jobs not re-run: a runner of https://github.test/octo serves all" in (
        result.stdout
    )
    assert world.repo.state.job_reruns == [] and world.store.names() == []


def test_the_job_that_launched_the_runner_is_rerun_with_the_lost_one(world: World) -> None:
    """CML's pattern: a GitHub-hosted job launches the runner, the next job of the same run
    trains on it. Re-running the training job alone would wait for a runner nobody launches;
    gc re-runs the launch job, which brings the jobs that need it (GitHub's job re-run)."""
    launched_by = {"run": "971", "runner": "GitHub Actions 3", "name": "launch"}
    world.record("cmlf-spot", launched_by=launched_by)
    launch = world.job(971, "launch", "GitHub Actions 3", "completed", conclusion="success")
    ours = world.job(971, "train", "cmlf-spot", "completed", conclusion="failure")
    report = world.gc("--yes")
    [rerun] = report["findings"][0]["reruns"]
    assert (rerun["job"], rerun["outcome"]) == (str(ours), "rerun")
    assert rerun["why"] == f"with launch job {launch}, which it needs"
    assert world.repo.state.job_reruns == [launch]


def test_a_job_still_running_at_the_forge_is_waited_for(world: World) -> None:
    """The forge notices the runner is gone minutes after the machine: until the job has
    ended, gc keeps the record (status waiting, exit 0), then re-runs it and tears down; a job
    that never ends is given up after the wait limit."""
    world.record("cmlf-spot")
    ours = world.job(981, "train", "cmlf-spot", "in_progress")
    report = world.gc("--yes")
    [finding] = report["findings"]
    assert finding["status"] == "waiting" and reruns(report) == [(str(ours), "waiting")]
    assert "has not ended at the forge yet" in finding["detail"]
    assert world.store.names() == ["cmlf-spot"] and world.repo.state.runners
    [job] = [j for j in world.repo.state.jobs if j.id == ours]
    job.status, job.conclusion = "completed", "failure"
    # another job of its run still runs: GitHub re-runs jobs of finished runs only
    other = world.job(981, "report", "someone-else", "in_progress")
    report = world.gc("--yes")
    assert reruns(report) == [(str(ours), "waiting")]
    assert "its run has not finished" in report["findings"][0]["reruns"][0]["why"]
    [job] = [j for j in world.repo.state.jobs if j.id == other]
    job.status, job.conclusion = "completed", "success"
    report = world.gc("--yes")
    assert [f["status"] for f in report["findings"]] == ["fixed"]
    assert reruns(report) == [(str(ours), "rerun")] and world.repo.state.job_reruns == [ours]
    assert world.store.names() == []

    record = world.record("cmlf-spot")
    record.rerun_waiting_since = time.time() - 3 * 3600
    world.store.put(record)
    stuck = world.job(982, "train", "cmlf-spot", "in_progress")
    report = world.gc("--yes")
    assert [f["status"] for f in report["findings"]] == ["fixed"]
    assert reruns(report) == [(str(stuck), "skipped")]
    assert "given up" in report["findings"][0]["reruns"][0]["why"]


def test_the_launcher_job_is_what_the_ci_says() -> None:
    github = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9", "RUNNER_NAME": "GitHub Actions 3"}
    assert launcher_job("github", {**github, "GITHUB_JOB": "launch"}) == {
        "run": "9",
        "runner": "GitHub Actions 3",
        "name": "launch",
    }
    gitlab = {"GITLAB_CI": "true", "CI_PIPELINE_ID": "12", "CI_JOB_ID": "34"}
    assert launcher_job("gitlab", gitlab) == {"run": "12", "job": "34"}
    assert launcher_job("github", gitlab) == {} and launcher_job("bitbucket", {}) == {}
    # Bitbucket's: test_gc_rerun_bitbucket.py, with its lost steps


@pytest.mark.parametrize("world", ["gitlab"], indirect=True)
def test_gitlab_retries_the_lost_job_once(world: World) -> None:
    """With the job that launched its runner first (a retry does not bring the jobs it
    needs): that one launches a runner for it."""
    world.record("cmlf-spot", launched_by={"run": "951", "job": "950"})
    launch = world.job(951, "launch", "shared-runner", "success", job_id=950)
    ours = world.job(951, "train", "cmlf-spot", "running")
    assert world.gc("--yes")["findings"][0]["status"] == "waiting"  # not failed yet
    world.repo.state.jobs[-1].status = "failed"  # GitLab noticed: runner_system_failure
    world.job(951, "lint", "someone-else", "failed")
    # a job lost before, already retried once: its retry (same name, same pipeline) lost too
    world.job(952, "eval", "cmlf-spot", "canceled")
    twice = world.job(952, "eval", "cmlf-spot", "failed")

    report = world.gc("--yes")
    [finding] = report["findings"]
    assert finding["status"] == "fixed"
    outcomes = dict(reruns(report))
    assert outcomes[str(ours)] == "rerun" and outcomes[str(twice)] == "skipped"
    assert world.repo.state.job_reruns == [launch, ours]
    assert world.gc("--yes")["findings"] == []
    assert world.repo.state.job_reruns == [launch, ours]

    world.record("cmlf-spot")  # its retry, lost in turn with the next spot runner
    [retry] = [j for j in world.repo.state.jobs if j.name == "train" and j.attempt > 1]
    retry.runner_id, retry.runner_name, retry.status = RUNNER_ID, "cmlf-spot", "failed"
    retry.started_at = stamp(world.created + 120)
    text = world.run_cli("gc", "--state", world.state, "--yes", env=world.env)
    assert text.returncode == 0, text.stderr
    assert f"left job {retry.id} (train) of run 951: already retried, or itself a retry" in (
        text.stdout
    )
    assert world.repo.state.job_reruns == [launch, ours]
