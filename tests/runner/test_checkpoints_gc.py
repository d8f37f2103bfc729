"""gc keeps a reclaimed runner's checkpoint for the re-run of the job it lost: through the real
command, the fake cloud and fake forge of test_gc_rerun.py, and each registry a machine can
upload to, on its real server (registries.py: S3 on moto, GCS on fake-gcs-server, Azure Blob on
Azurite). The re-run attempt then restores it from its own CI environment (same run id, same
job name)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cmlinfra.runner.checkpoint_restore import restore
from cmlinfra.runner.checkpoint_urls import KeyStore
from cmlinfra.runner.store import open_store
from tests.archives import tgz
from tests.fixtures.forge import ForgeRepo
from tests.runner.registries import KINDS, registry
from tests.runner.test_gc_rerun import World, reruns, world  # noqa: F401  (the fixture)


@pytest.fixture(params=KINDS)
def s3world(
    world: World,  # noqa: F811
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> World:
    """The gc world with its runner registry on S3, GCS or Azure Blob (named for the first)."""
    url = registry(request.param, request, monkeypatch, tmp_path)
    return replace(world, store=open_store(url), state=url)


def _keys(w: World) -> list[str]:
    store = w.store
    assert isinstance(store, KeyStore)
    return sorted(key for key, _ in store.list_keys(""))


def test_gc_keeps_the_checkpoint_for_the_rerun_and_the_job_restores_it(
    s3world: World, tmp_path: Path
) -> None:
    w = s3world
    store = w.store
    w.record("cmlf-spot")
    ours = w.job(901, "train", "cmlf-spot", "completed", conclusion="failure")
    # what the reclaimed machine's watcher uploaded through its presigned URLs
    store.put_blob("cmlf-spot", "checkpoint.tgz", tgz({"./step": b"3\n"}))
    store.put_blob("cmlf-spot", "checkpoint.env", b"run_id=901\njob=train\nat=1\n")

    report = w.gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    [rerun] = report["findings"][0]["reruns"]
    repo = w.repo.name
    key = f"reg/checkpoints/github/{repo}/901/train.tgz"
    assert rerun["checkpoint"] == key
    assert _keys(w) == [key]  # the runner's folder is gone

    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": repo, "GITHUB_RUN_ID": "901"}
    line = restore(w.state, tmp_path / "ckpt", {**env, "GITHUB_JOB": "train"})
    assert line.startswith("restored the checkpoint of job train of run 901")
    assert (tmp_path / "ckpt/step").read_text() == "3\n"


def test_a_checkpoint_of_another_run_is_left_and_the_rerun_goes_on(s3world: World) -> None:
    w = s3world
    store = w.store
    w.record("cmlf-spot")
    ours = w.job(902, "train", "cmlf-spot", "completed", conclusion="failure")
    store.put_blob("cmlf-spot", "checkpoint.tgz", b"x")
    store.put_blob("cmlf-spot", "checkpoint.env", b"run_id=77\njob=train\n")
    report = w.gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    assert report["findings"][0]["reruns"][0]["checkpoint"] == ""
    assert _keys(w) == []  # torn down


def _two_lost_legs(w: World) -> None:
    """Two legs of matrix job ``train`` in run 903, each lost with its own spot runner; both
    watchers uploaded a checkpoint saying job=train (GITHUB_JOB is the same for every leg)."""
    store = w.store
    for leg, runner_id in (("a", 4712), ("b", 4713)):
        name = f"cmlf-{leg}"
        w.record(name, runner_id=str(runner_id))
        w.job(903, f"train ({leg})", name, "completed", conclusion="failure", runner_id=runner_id)
        store.put_blob(name, "checkpoint.tgz", tgz({"./leg": leg.encode()}))
        store.put_blob(name, "checkpoint.env", b"run_id=903\njob=train\nat=1\n")


def _finish_the_rerun(w: World) -> None:
    """The re-run attempt of the first leg ends: GitHub re-runs a job only in a finished run."""
    for job in w.repo.state.jobs:
        if job.status == "queued":
            job.status, job.conclusion = "completed", "success"


def _restore(w: World, target: Path) -> str:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": w.repo.name, "GITHUB_RUN_ID": "903"}
    return restore(w.state, target, {**env, "GITHUB_JOB": "train"})


def test_matrix_legs_lost_together_each_resume_from_their_own_checkpoint(
    s3world: World, tmp_path: Path
) -> None:
    w = s3world
    _two_lost_legs(w)
    key = f"reg/checkpoints/github/{w.repo.name}/903/train.tgz"
    first = w.gc("--yes")  # one leg re-run; the other waits for the run to finish
    assert sorted(outcome for _, outcome in reruns(first)) == ["rerun", "waiting"]
    assert _restore(w, tmp_path / "one").startswith("restored")
    restored_first = (tmp_path / "one/leg").read_text()
    assert key not in _keys(w)  # restored once: taken
    _finish_the_rerun(w)

    second = w.gc("--yes")
    assert [outcome for _, outcome in reruns(second)] == ["rerun"]
    assert [r["checkpoint"] for f in second["findings"] for r in f["reruns"]] == [key]
    assert _restore(w, tmp_path / "two").startswith("restored")
    assert {restored_first, (tmp_path / "two/leg").read_text()} == {"a", "b"}


def test_a_checkpoint_no_rerun_took_makes_the_other_legs_start_empty(
    s3world: World, tmp_path: Path
) -> None:
    """The first leg's re-run never restored (no restore step, or it failed before it): the
    two archives cannot be told apart, so neither leg resumes from the other's."""
    w = s3world
    _two_lost_legs(w)
    w.gc("--yes")
    _finish_the_rerun(w)
    second = w.gc("--yes")
    assert [r["checkpoint"] for f in second["findings"] for r in f["reruns"]] == [""]
    stem = f"reg/checkpoints/github/{w.repo.name}/903/train"
    assert _keys(w) == [f"{stem}.ambiguous"]
    line = _restore(w, tmp_path / "ckpt")
    assert "cannot be told" in line and "starts empty" in line
    assert not (tmp_path / "ckpt").exists()


def test_gc_deletes_a_kept_checkpoint_once_a_week_old(s3world: World) -> None:
    from cmlinfra.runner.gc import Sweeper

    store = s3world.store
    assert isinstance(store, KeyStore)
    key = "reg/checkpoints/github/o/r/904/train.tgz"
    store.write_key(key, b"x")
    assert Sweeper(store).find() == []  # a fresh one waits for its re-run
    week = time.time() + 8 * 86400
    assert Sweeper(store, prefix="cmlf-", now=week).find() == []  # not a runner's: no --prefix
    sweeper = Sweeper(store, now=week)
    [finding] = sweeper.find()
    assert (finding.kind, finding.name) == ("expired-checkpoint", key)
    assert "kept 8 days ago" in finding.detail
    assert [f.status for f in sweeper.fix([finding])] == ["fixed"]
    assert _keys(s3world) == []


@pytest.mark.parametrize("world", ["gitlab"], indirect=True)
def test_gitlab_keeps_the_lost_jobs_checkpoint_for_its_retry(
    s3world: World, tmp_path: Path
) -> None:
    """A leg of a ``parallel: matrix`` job (its CI_JOB_NAME ``train: [a, 1]``), lost with its
    runner: gc retries it and keeps the checkpoint at the key the retry names from its own
    CI_PROJECT_PATH, CI_PIPELINE_ID and CI_JOB_NAME; the other leg has its own key."""
    from cmlinfra.runner.checkpoints import job_key

    w = s3world
    store = w.store
    name = "train: [a, 1]"
    w.record("cmlf-spot")
    ours = w.job(951, name, "cmlf-spot", "failed")
    w.job(951, "train: [b, 2]", "someone-else", "failed")  # the other leg, another runner
    store.put_blob("cmlf-spot", "checkpoint.tgz", tgz({"./step": b"3\n"}))
    store.put_blob("cmlf-spot", "checkpoint.env", f"run_id=951\njob={name}\nat=1\n".encode())

    report = w.gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    key = job_key(store, "gitlab", w.repo.name, "951", name)
    assert key is not None and key.startswith(
        "reg/checkpoints/gitlab/group/sub/demo/951/_train-a-1-"
    )
    assert report["findings"][0]["reruns"][0]["checkpoint"] == key
    assert _keys(w) == [key]

    env = {"GITLAB_CI": "true", "CI_PROJECT_PATH": w.repo.name, "CI_PIPELINE_ID": "951"}
    other = restore(w.state, tmp_path / "b", {**env, "CI_JOB_NAME": "train: [b, 2]"})
    assert other.startswith("no checkpoint for job train: [b, 2] of run 951")
    line = restore(w.state, tmp_path / "ckpt", {**env, "CI_JOB_NAME": name})
    assert line.startswith(f"restored the checkpoint of job {name} of run 951")
    assert (tmp_path / "ckpt/step").read_text() == "3\n"
    assert _keys(w) == []  # taken


@pytest.mark.parametrize("s3world", ["s3"], indirect=True)  # any registry would do
@pytest.mark.parametrize("world", ["gitlab:/gitlab"], indirect=True)
def test_a_gitlab_under_a_relative_url_keeps_the_checkpoint_where_the_retry_finds_it(
    s3world: World, tmp_path: Path
) -> None:
    """GitLab served under ``https://gitlab.test/gitlab`` (its API under ``/gitlab/api/v4``; a
    request to ``/api/v4`` reaches no GitLab and fails the test): the runner is registered at
    ``https://gitlab.test/gitlab/group/sub/demo``, project ``group/sub/demo``. gc, in a job of
    that project, retries the lost job and keeps its checkpoint at the key of
    ``group/sub/demo``, which the retry's ``checkpoint restore`` names from its own
    CI_SERVER_URL and CI_PROJECT_PATH — not at ``gitlab/group/sub/demo``, the URL's path."""
    w = s3world
    store = w.store
    w.record("cmlf-spot")
    ours = w.job(961, "train", "cmlf-spot", "failed")
    store.put_blob("cmlf-spot", "checkpoint.tgz", tgz({"./step": b"5\n"}))
    store.put_blob("cmlf-spot", "checkpoint.env", b"run_id=961\njob=train\nat=1\n")

    report = w.gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    key = "reg/checkpoints/gitlab/group/sub/demo/961/train.tgz"
    assert report["findings"][0]["reruns"][0]["checkpoint"] == key
    assert _keys(w) == [key]
    assert w.repo.state.job_reruns == [ours] and w.repo.state.runners == {}  # unregistered

    retry = w.repo.env(CI_PIPELINE_ID="961", CI_JOB_NAME="train")
    assert retry["CI_SERVER_URL"] == "https://gitlab.test/gitlab"
    line = restore(w.state, tmp_path / "ckpt", retry)
    assert line.startswith("restored the checkpoint of job train of run 961"), line
    assert (tmp_path / "ckpt/step").read_text() == "5\n"


@pytest.mark.parametrize("s3world", ["s3"], indirect=True)  # any registry would do
@pytest.mark.parametrize("world", ["gitlab:/gitlab"], indirect=True)
def test_gc_in_another_project_reaches_the_runners_project_under_the_relative_url(
    s3world: World, forge_repo: Callable[..., ForgeRepo], tmp_path: Path
) -> None:
    """gc run in a job of another project of the same GitLab (under ``/gitlab``) points its
    connection at the record's project below that root: the lost job is retried, its
    checkpoint kept for the retry, the runner unregistered at the right project."""
    w = s3world
    other = forge_repo("gitlab", "group/other", root="/gitlab")
    w.record("cmlf-spot")
    ours = w.job(962, "train", "cmlf-spot", "failed")
    w.store.put_blob("cmlf-spot", "checkpoint.tgz", tgz({"./step": b"6\n"}))
    w.store.put_blob("cmlf-spot", "checkpoint.env", b"run_id=962\njob=train\nat=1\n")

    report = replace(w, env={**w.env, **other.env()}).gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    key = "reg/checkpoints/gitlab/group/sub/demo/962/train.tgz"
    assert _keys(w) == [key] and w.repo.state.runners == {}
    line = restore(
        w.state, tmp_path / "ckpt", w.repo.env(CI_PIPELINE_ID="962", CI_JOB_NAME="train")
    )
    assert line.startswith("restored the checkpoint of job train of run 962"), line


@pytest.mark.parametrize("s3world", ["s3"], indirect=True)  # any registry would do
@pytest.mark.parametrize("world", ["gitlab"], indirect=True)
def test_a_record_from_before_web_url_was_kept_still_names_its_checkpoint(s3world: World) -> None:
    """A record written before the forge's base was kept (no ``web_url``/``api_url``): its
    repository is its URL's path, as then, which on a GitLab at its host's root is the
    project's path."""
    w = s3world
    w.record("cmlf-spot", web_url="", api_url="")
    ours = w.job(963, "train", "cmlf-spot", "failed")
    w.store.put_blob("cmlf-spot", "checkpoint.tgz", tgz({"./step": b"7\n"}))
    w.store.put_blob("cmlf-spot", "checkpoint.env", b"run_id=963\njob=train\nat=1\n")
    report = w.gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    assert _keys(w) == ["reg/checkpoints/gitlab/group/sub/demo/963/train.tgz"]
