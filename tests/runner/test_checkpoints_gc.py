"""gc keeps a reclaimed runner's checkpoint for the re-run of the job it lost: through the real
command, the fake cloud and fake forge of test_gc_rerun.py, and an S3 registry (moto). The
re-run attempt then restores it from its own CI environment (same run id, same job name)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from cmlinfra.runner.checkpoint_restore import restore
from cmlinfra.runner.store import S3Store, open_store
from tests.archives import tgz
from tests.runner.test_gc_rerun import World, reruns, world  # noqa: F401  (the fixture)

BUCKET = "ckpt-gc"


@pytest.fixture
def s3world(world: World, moto) -> World:  # type: ignore[no-untyped-def]  # noqa: F811
    moto.client("s3").create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/reg?region=us-east-1&endpoint={moto.endpoint}"
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    return replace(world, store=open_store(url), state=url, env={**world.env, **aws})


def test_gc_keeps_the_checkpoint_for_the_rerun_and_the_job_restores_it(
    s3world: World, tmp_path: Path
) -> None:
    w = s3world
    store = w.store
    assert isinstance(store, S3Store)
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
    listed = store._s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    assert [item["Key"] for item in listed] == [key]  # the runner's folder is gone

    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": repo, "GITHUB_RUN_ID": "901"}
    line = restore(w.state, tmp_path / "ckpt", {**env, "GITHUB_JOB": "train"})
    assert line.startswith("restored the checkpoint of job train of run 901")
    assert (tmp_path / "ckpt/step").read_text() == "3\n"


def test_a_checkpoint_of_another_run_is_left_and_the_rerun_goes_on(s3world: World) -> None:
    w = s3world
    store = w.store
    assert isinstance(store, S3Store)
    w.record("cmlf-spot")
    ours = w.job(902, "train", "cmlf-spot", "completed", conclusion="failure")
    store.put_blob("cmlf-spot", "checkpoint.tgz", b"x")
    store.put_blob("cmlf-spot", "checkpoint.env", b"run_id=77\njob=train\n")
    report = w.gc("--yes")
    assert reruns(report) == [(str(ours), "rerun")]
    assert report["findings"][0]["reruns"][0]["checkpoint"] == ""
    assert store._s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []  # torn down
