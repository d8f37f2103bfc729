"""``runner launch --checkpoint-dir`` on Bitbucket, whose runner has no job hooks: on the
notice the reclaim watcher finds the running step among the runner's own descendants and
reads only three of their variables (the rest holds the user's secured variables); gc keeps
the archive under the lost pipeline and the step's name before it starts the pipeline again;
``checkpoint restore`` in the new pipeline's step finds it through the API. The watcher runs
here against a stand-in of the linux-shell runner (bitbucket_runner.py), uploads to a real
S3 server (moto), and gc and restore talk to the fake Bitbucket (checked against Atlassian's
OpenAPI description)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds import cloud_info
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner import checkpoint_urls, checkpoints, reclaim
from cmlinfra.runner.agents import BITBUCKET_WORKDIR, UNIT, bitbucket_start
from cmlinfra.runner.checkpoint_bitbucket import _held
from cmlinfra.runner.checkpoint_restore import restore
from cmlinfra.runner.launch import watch_steps
from cmlinfra.runner.rerun import Rerun
from cmlinfra.runner.store import S3Store, open_store
from tests.archives import tgz
from tests.fixtures.moto import free_port
from tests.forge_server.bitbucket_pipelines import step
from tests.forge_server.state import StoredPipeline, StoredStep
from tests.runner import bitbucket_runner
from tests.runner.conftest import wait_until
from tests.runner.registries import registry
from tests.runner.test_checkpoints import metadata  # noqa: F401  (the fixture)
from tests.runner.test_gc_rerun import World, stamp, world  # noqa: F401  (the fixture)
from tests.runner.test_gc_rerun_bitbucket import _launched, _pipeline

SECRET = "hunter2-secured-value"  # a secured variable's value: never anywhere of ours
PIPELINE = "{6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f}"
STEP = "{0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e}"
bitbucket = pytest.mark.parametrize("world", ["bitbucket"], indirect=True)


def _step_env(clone: Path, pipeline: str, step_uuid: str) -> dict[str, str]:
    return {
        "CI": "true", "BITBUCKET_BUILD_NUMBER": "7", "BITBUCKET_PIPELINE_UUID": pipeline,
        "BITBUCKET_STEP_UUID": step_uuid, "BITBUCKET_CLONE_DIR": str(clone),
        "MODEL_TOKEN": SECRET,
        # a value that would be a line of its own were the environment read line by line
        "NOTES": f"x\nBITBUCKET_CLONE_DIR=/etc\nBITBUCKET_STEP_UUID={SECRET}",
    }  # fmt: skip


def _watcher(tmp: Path, metadata_url: str, work: Path) -> Path:
    watch = reclaim.Watch(
        cloud_info("aws").capabilities.interruption, metadata_url, checkpoint_dir="ckpt",
        runner=True, agent_unit=UNIT, upload=checkpoints.URL_FILE, step_root=str(work),
    )  # fmt: skip
    script = tmp / "reclaim"
    script.write_text(reclaim.render(watch))
    return script


def _reclaim(
    tmp: Path, metadata_url: str, store: object, name: str, ending: str, ids: tuple[str, str]
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A step training in its clone under the runner's working dir (or, ``outside``, a clone
    elsewhere), the notice, the watcher; returns the machine's root and what the watcher
    printed."""
    root, work = tmp / "root", tmp / "work"
    state = root / "var/lib/cmlinfra"
    state.mkdir(parents=True)
    urls = root / checkpoints.URL_FILE.lstrip("/")
    urls.parent.mkdir(parents=True)
    urls.write_text("\n".join(checkpoint_urls.presign(store, name, 3600)) + "\n")
    # the runner's folder for a step may be named by a braced UUID
    clone = work / "{4f0e8b1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b}" / "build"
    if ending == "outside":
        clone = tmp / "elsewhere"
    if ending == "climbs":  # under the working dir by its text only
        (work / "x").mkdir(parents=True)
        clone = work / "x" / ".." / ".." / "elsewhere"
    clone.mkdir(parents=True)
    fifo = tmp / "go"
    os.mkfifo(fifo)
    script = "mkdir -p ckpt && echo 3 > ckpt/step && " + (
        "exit 0" if ending == "ended" else f"read -r _ <{fifo}"
    )
    runner = bitbucket_runner.start(tmp / "runner", clone, _step_env(clone, *ids), script)
    try:
        if ending == "ended":
            wait_until(runner.step_done, 30, "the step to end")
        else:
            wait_until(lambda: (clone / "ckpt/step").exists(), 30, "the step to train")
        env = {**os.environ, "CMLINFRA_ROOT": str(root),
               "PATH": f"{runner.shims}:{os.environ['PATH']}"}  # fmt: skip
        watcher = _watcher(tmp, metadata_url, work)
        heard = subprocess.run(["bash", str(watcher), "check"], env=env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert heard.returncode == 0, heard.stderr
        return root, heard
    finally:
        runner.stop()
        _release(fifo)


def _release(fifo: Path) -> None:
    """End a step still waiting on ``fifo``: it outlives the runner stand-in otherwise."""
    with contextlib.suppress(OSError):  # ENXIO: no step waits on it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def _nothing_secret(root: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text and "/etc" not in text
    for path in (root / "var/lib/cmlinfra").rglob("*"):
        data = path.read_bytes()
        if path.name == "checkpoint.tgz":
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                data = b"".join(f.read() for m in tar if (f := tar.extractfile(m)) is not None)
        assert SECRET.encode() not in data, path


@pytest.fixture
def s3store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Any, str]:
    """An empty S3 registry (moto): the store and its --state URL."""
    url = registry("s3", request, monkeypatch, tmp_path)
    return open_store(url), url


@pytest.mark.parametrize("ending", ["running", "ended", "outside", "climbs"])
def test_the_watcher_finds_the_running_step_and_keeps_none_of_its_secrets(
    s3store: tuple[Any, str],
    metadata: str,  # noqa: F811
    tmp_path: Path,
    ending: str,
) -> None:
    """A step still running is saved with its pipeline and step in the ABOUT; a step whose
    process has ended (the runner idle), or whose clone is not under the runner's working
    dir (or only by climbing out with ``..``), leaves nothing. No secured value, nor a line
    forged inside one, reaches anything."""
    store, _ = s3store
    root, heard = _reclaim(tmp_path, metadata, store, "ckpt-bb", ending, (PIPELINE, STEP))
    mark = reclaim.parse((root / "var/lib/cmlinfra/reclaim").read_text())
    about = store.get_blob("ckpt-bb", checkpoint_urls.ABOUT)
    if ending == "running":
        assert (mark["run_id"], mark["job"]) == (PIPELINE, STEP)
        assert (mark["checkpoint"], mark["checkpoint_upload"]) == ("saved", "ok")
        assert about is not None and f"run_id={PIPELINE}\njob={STEP}\n".encode() in about
        archive = store.get_blob("ckpt-bb", checkpoint_urls.ARCHIVE)
        assert archive is not None
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            assert [m.name for m in tar if m.isfile()] == ["./step"]
    else:
        assert (mark["run_id"], mark["job"], mark["checkpoint"]) == ("", "", "no-workspace")
        assert about is None and "checkpoint_upload" not in mark
    _nothing_secret(root, heard.stdout, heard.stderr, (about or b"").decode())


def test_launch_has_the_watcher_look_where_the_runner_clones() -> None:
    """The watcher's root is the working dir the runner is started with; GitHub's and
    GitLab's watchers keep their hooks."""
    assert watch_steps("bitbucket") == BITBUCKET_WORKDIR
    assert watch_steps("github") == watch_steps("gitlab") == ""
    env = {"ACCOUNT_UUID": PIPELINE, "RUNNER_UUID": STEP, "OAUTH_CLIENT_ID": "id",
           "OAUTH_CLIENT_SECRET": "secret"}  # fmt: skip
    start = bitbucket_start(env, "/opt/runner", BITBUCKET_WORKDIR)
    assert f"directory.working={BITBUCKET_WORKDIR}" in start
    watch = reclaim.Watch(cloud_info("aws").capabilities.interruption, "http://m",
                          runner=True, step_root=watch_steps("bitbucket"))  # fmt: skip
    assert f"STEPS_UNDER={BITBUCKET_WORKDIR}\n" in reclaim.render(watch)
    assert "STEPS_UNDER=''\n" in reclaim.render(replace(watch, step_root=""))


@bitbucket
def test_a_lost_steps_checkpoint_comes_back_in_the_rerun_pipeline(
    world: World,  # noqa: F811
    metadata: str,  # noqa: F811
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The watcher uploads the running step's checkpoint, gc keeps it under pipeline 7 and
    the step's name and starts pipeline 8, whose step of that name restores it and deletes it."""
    url = registry("s3", request, monkeypatch, tmp_path)
    w = replace(world, store=open_store(url), state=url)
    lost = step("train model", "FAILED", started_on=stamp(w.created + 60))
    pipeline = _pipeline(w, steps=[lost])
    record = _launched(w, pipeline)
    # the machine: its step of pipeline 7 trains at the notice
    root, _ = _reclaim(
        tmp_path / "m", metadata, w.store, record.name, "running", (pipeline.uuid, lost.uuid)
    )
    assert "checkpoint=saved" in (root / "var/lib/cmlinfra/reclaim").read_text()

    report = w.gc("--yes")
    [entry] = report["findings"][0]["reruns"]
    key = f"reg/checkpoints/bitbucket/ws/demo/{pipeline.uuid[1:-1]}/train model.tgz"
    assert (entry["outcome"], entry["checkpoint"]) == ("rerun", key)
    said = Rerun(**entry).line()  # the text report's line
    assert said.endswith(f"(lost step: train model) (its checkpoint at {key})")
    listed = sorted(k for k, _ in w.store.list_keys(""))  # type: ignore[attr-defined]
    assert listed == [key]  # the runner's own objects went with its teardown
    again = w.repo.state.pipelines[-1]
    assert again.build_number == 8
    again.steps = [step("launch", state="IN_PROGRESS"), step("train model", state="IN_PROGRESS")]

    def env(p: StoredPipeline, s: StoredStep) -> dict[str, str]:
        return {**w.repo.env(), "CI": "true", "BITBUCKET_BUILD_NUMBER": str(p.build_number),
                "BITBUCKET_PIPELINE_UUID": p.uuid, "BITBUCKET_STEP_UUID": s.uuid}  # fmt: skip

    first = restore(url, tmp_path / "old", env(pipeline, lost))  # pipeline 7 re-runs nothing
    assert first.endswith(f"it re-runs no earlier pipeline; {tmp_path / 'old'} starts empty")
    line = restore(url, tmp_path / "ckpt", env(again, again.steps[1]))
    assert line.startswith(
        "restored the checkpoint of step train model of pipeline 8, a re-run of pipeline 7"
    )
    assert (tmp_path / "ckpt/step").read_text() == "3\n"
    assert sorted(k for k, _ in w.store.list_keys("")) == []  # type: ignore[attr-defined]
    other = restore(url, tmp_path / "launch", env(again, again.steps[0]))
    assert "no checkpoint for step launch of pipeline 8" in other


@bitbucket
def test_restore_in_a_bitbucket_step_without_its_ids_or_a_token_is_one_line(
    world: World,  # noqa: F811
    s3store: tuple[Any, str],
    tmp_path: Path,
) -> None:
    _, url = s3store
    base = {**world.repo.env(), "CI": "true", "BITBUCKET_BUILD_NUMBER": "7"}
    with pytest.raises(UsageError, match="BITBUCKET_PIPELINE_UUID and BITBUCKET_STEP_UUID"):
        restore(url, tmp_path / "ckpt", base)
    ids = {"BITBUCKET_PIPELINE_UUID": PIPELINE, "BITBUCKET_STEP_UUID": "{../x}"}
    with pytest.raises(UsageError, match="is not a UUID"):
        restore(url, tmp_path / "ckpt", {**base, **ids})
    ids["BITBUCKET_STEP_UUID"] = STEP
    no_token = {k: v for k, v in base.items() if k != "BITBUCKET_TOKEN"}
    with pytest.raises(CmlinfraError) as caught:
        restore(url, tmp_path / "ckpt", {**no_token, **ids})
    assert "\n" not in caught.value.line() and "BITBUCKET_TOKEN" in caught.value.line()
    assert "--token" not in caught.value.line()  # checkpoint restore has no --token
    assert not (tmp_path / "ckpt").exists()


@bitbucket
def test_a_token_bitbucket_rejects_in_restore_names_the_variables_not_an_option(
    world: World,  # noqa: F811
    s3store: tuple[Any, str],
    tmp_path: Path,
) -> None:
    """checkpoint restore takes the token from REPO_TOKEN or BITBUCKET_TOKEN only: when
    Bitbucket rejects it (HTTP 401), the fix offers no --token the command does not have."""
    _, url = s3store
    env = {**world.repo.env(), "CI": "true", "BITBUCKET_BUILD_NUMBER": "7",
           "BITBUCKET_PIPELINE_UUID": PIPELINE, "BITBUCKET_STEP_UUID": STEP,
           "BITBUCKET_TOKEN": "wrong-token-value-123"}  # fmt: skip
    with pytest.raises(CmlinfraError) as caught:
        restore(url, tmp_path / "ckpt", env)
    line = caught.value.line()
    assert "the token was rejected by Bitbucket (HTTP 401" in line
    assert "; set REPO_TOKEN (or BITBUCKET_TOKEN): a repository access token" in line
    assert "with repository and pipeline read scopes" in line  # restore only reads
    assert "--token" not in line and "wrong-token-value-123" not in line
    assert not (tmp_path / "ckpt").exists()


def test_a_registry_that_cannot_answer_holds_nothing_but_a_bug_is_raised(
    s3store: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which earlier pipeline's key holds a checkpoint: a registry that cannot answer (here:
    nothing listens at its endpoint) holds none, and the newest candidate's own read says
    why; a bug in the store (a TypeError) is no such answer and surfaces."""
    store, _ = s3store
    key = "reg/checkpoints/bitbucket/ws/demo/x/train.tgz"
    assert not _held(store, key)
    store.write_key(key, b"kept")
    assert _held(store, key)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # one refused connection, not five
    gone = S3Store(store.bucket, store.prefix, store.region, f"http://127.0.0.1:{free_port()}")
    assert not _held(gone, key)

    class Buggy(S3Store):
        def key_metadata(self, key: str) -> dict[str, str] | None:
            raise TypeError("a bug in the store")

    with pytest.raises(TypeError, match="a bug in the store"):
        _held(Buggy(store.bucket, store.prefix, store.region, store.endpoint), key)


def _uploaded(w: World, name: str, pipeline: str, step_uuid: str, body: bytes) -> None:
    """What a reclaimed runner's watcher uploaded through its presigned URLs."""
    w.store.put_blob(name, checkpoint_urls.ARCHIVE, tgz({"./leg": body}))
    about = f"run_id={pipeline}\njob={step_uuid}\nat=1\n".encode()
    w.store.put_blob(name, checkpoint_urls.ABOUT, about)


@bitbucket
def test_only_a_lost_steps_checkpoint_is_kept_and_twin_steps_start_empty(
    world: World,  # noqa: F811
    s3store: tuple[Any, str],
    tmp_path: Path,
) -> None:
    """An archive of a step that is not among the lost ones (another pipeline's) is left to
    the teardown; parallel steps of one name, lost with two runners: neither of the re-run's
    steps of that name resumes from a checkpoint that may be the other's."""
    store, url = s3store
    w = replace(world, store=store, state=url)
    after = stamp(w.created + 60)
    lost = step("train", "FAILED", started_on=after)
    pipeline = _pipeline(w, steps=[lost])
    record = _launched(w, pipeline)
    _uploaded(w, record.name, PIPELINE, STEP, b"other")  # not this pipeline's step
    text = w.run_cli("gc", "--state", url, "--yes", env=w.env)
    assert text.returncode == 0, text.stderr
    assert "(lost step: train)\n" in text.stdout and "checkpoint" not in text.stdout
    assert sorted(k for k, _ in store.list_keys("")) == []

    # two parallel steps named alike, lost with two runners: the re-run's steps start empty
    twins = [step("train", "FAILED", started_on=after) for _ in range(2)]
    again = _pipeline(w, number=20, steps=twins)
    for leg, twin in enumerate(twins):
        runner = _launched(w, again)
        w.store.delete(runner.name)
        w.store.put(replace(runner, name=f"cmlf-{leg}"))
        _uploaded(w, f"cmlf-{leg}", again.uuid, twin.uuid, str(leg).encode())
    w.gc("--yes")
    new = w.repo.state.pipelines[-1]
    new.steps = [step("train", state="IN_PROGRESS") for _ in range(2)]
    for leg in new.steps:
        env = {**w.repo.env(), "CI": "true", "BITBUCKET_BUILD_NUMBER": str(new.build_number),
               "BITBUCKET_PIPELINE_UUID": new.uuid, "BITBUCKET_STEP_UUID": leg.uuid}  # fmt: skip
        line = restore(url, tmp_path / "ckpt", env)
        assert line.endswith(f"2 of its steps are named 'train'; {tmp_path / 'ckpt'} starts empty")
    assert not (tmp_path / "ckpt").exists()


@bitbucket
def test_only_the_step_whose_checkpoint_was_kept_names_it(
    world: World,  # noqa: F811
    s3store: tuple[Any, str],
) -> None:
    """Two steps of one pipeline lost (parallel steps): the pipeline runs again once, and the
    checkpoint the watcher saved is the one step's it names, not the other's too."""
    store, url = s3store
    w = replace(world, store=store, state=url)
    after = stamp(w.created + 60)
    lost = [step("train a", "FAILED", started_on=after), step("train b", "ERROR", started_on=after)]
    pipeline = _pipeline(w, steps=lost)
    record = _launched(w, pipeline)
    _uploaded(w, record.name, pipeline.uuid, lost[1].uuid, b"b")
    entries = {e["name"]: e for e in w.gc("--yes")["findings"][0]["reruns"]}
    key = f"reg/checkpoints/bitbucket/ws/demo/{pipeline.uuid[1:-1]}/train b.tgz"
    assert {n: (e["outcome"], e["checkpoint"]) for n, e in entries.items()} == {
        "train a": ("rerun", ""),
        "train b": ("rerun", key),
    }
    assert "its checkpoint" not in Rerun(**entries["train a"]).line()


@bitbucket
def test_a_nightly_run_between_the_lost_pipeline_and_its_rerun_takes_nothing(
    world: World,  # noqa: F811
    s3store: tuple[Any, str],
    tmp_path: Path,
) -> None:
    """A schedule's pipeline 7 loses its step; the next night's pipeline 8 (same commit, ref
    and selector) starts before gc runs. gc still re-runs 7 (8 is no re-run of it), as 9;
    8's step starts empty and 9's restores 7's checkpoint."""
    store, url = s3store
    w = replace(world, store=store, state=url)
    nightly = "pipeline_trigger_schedule"
    lost = step("train", "FAILED", started_on=stamp(w.created + 60))
    pipeline = _pipeline(w, trigger=nightly, steps=[lost])
    record = _launched(w, pipeline)
    _uploaded(w, record.name, pipeline.uuid, lost.uuid, b"7")
    tonight = _pipeline(w, 8, trigger=nightly, state="IN_PROGRESS")
    tonight.steps.append(step("train", state="IN_PROGRESS"))
    [entry] = w.gc("--yes")["findings"][0]["reruns"]
    assert (entry["outcome"], entry["why"]) == (
        "rerun",
        "as pipeline 9 (Bitbucket re-runs whole pipelines)",
    )

    def env(p: StoredPipeline, s: StoredStep) -> dict[str, str]:
        return {**w.repo.env(), "CI": "true", "BITBUCKET_BUILD_NUMBER": str(p.build_number),
                "BITBUCKET_PIPELINE_UUID": p.uuid, "BITBUCKET_STEP_UUID": s.uuid}  # fmt: skip

    line = restore(url, tmp_path / "night", env(tonight, tonight.steps[1]))
    assert line.endswith(f"it re-runs no earlier pipeline; {tmp_path / 'night'} starts empty")
    again = w.repo.state.pipelines[-1]
    again.steps = [step("launch", state="IN_PROGRESS"), step("train", state="IN_PROGRESS")]
    line = restore(url, tmp_path / "ckpt", env(again, again.steps[1]))
    assert line.startswith(
        "restored the checkpoint of step train of pipeline 9, a re-run of pipeline 7"
    )
    assert (tmp_path / "ckpt/leg").read_text() == "7"
