"""``gc`` on Bitbucket: a step a reclaimed spot runner lost is re-run the only way Bitbucket
can, by starting the pipeline that launched the runner again as a new one, once.

Through the real command, the fake cloud and the fake Bitbucket of test_gc_rerun.py (every
request and answer checked against Atlassian's OpenAPI description). A step does not say
which runner ran it, so the record names the pipeline and step that launched the runner
(``launcher_job``: BITBUCKET_PIPELINE_UUID, BITBUCKET_STEP_UUID)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.rerun import launcher_job
from tests.fixtures.forge import fake_sha
from tests.forge_server.bitbucket_pipelines import plant, step
from tests.forge_server.state import StoredPipeline, StoredRunner
from tests.runner.test_gc_rerun import World, reruns, stamp, world  # noqa: F401  (the fixture)

bitbucket = pytest.mark.parametrize("world", ["bitbucket"], indirect=True)


def _launched(w: World, pipeline: StoredPipeline, **extra: Any) -> RunnerRecord:
    """The record of a spot runner launched by ``pipeline``'s first step, registered at the
    fake Bitbucket (its machine gone)."""
    runner = StoredRunner(w.repo.server.state.next_id(), "cmlf-spot", ["cml"], "", "offline")
    runner.uuid = "{" + str(uuid.uuid4()) + "}"
    w.repo.state.runners[runner.id] = runner
    launched_by = {
        "run": pipeline.uuid,
        "step": pipeline.steps[0].uuid,
        "build": str(pipeline.build_number),
    }
    return w.record("cmlf-spot", runner_id=runner.uuid, launched_by=launched_by, **extra)


def _pipeline(w: World, number: int = 7, **kw: Any) -> StoredPipeline:
    """Pipeline ``number``: its launch step (before the record), the steps it is given."""
    steps = [step("launch", started_on=stamp(w.created - 30)), *kw.pop("steps", [])]
    return plant(w.repo.state, number, fake_sha("trained"), steps=steps, **kw)


@bitbucket
def test_the_launching_pipeline_is_rerun_once_for_its_lost_steps(world: World) -> None:  # noqa: F811
    after = stamp(world.created + 60)
    lost = [
        step("train a", "FAILED", started_on=after),
        step("train b", "STOPPED", started_on=after),
    ]
    earlier = step("old", "FAILED", started_on=stamp(world.created - 600))  # not of our runner
    passed = step("eval", "SUCCESSFUL", started_on=after)
    never = step("report", "NOT_RUN", started_on=None)
    pipeline = _pipeline(world, steps=[*lost, earlier, passed, never])
    _launched(world, pipeline)

    report = world.gc()  # report only: says it would, starts nothing
    assert "re-run the jobs it lost" in report["findings"][0]["action"]
    assert len(world.repo.state.pipelines) == 1

    report = world.gc("--yes")
    [finding] = report["findings"]
    assert (finding["kind"], finding["status"]) == ("machine-gone", "fixed")
    assert reruns(report) == [(lost[0].uuid, "rerun"), (lost[1].uuid, "rerun")]
    assert [p.build_number for p in world.repo.state.pipelines] == [7, 8]  # one, for both
    assert world.repo.state.pipelines[-1].target == pipeline.target
    why = "as pipeline 8 (Bitbucket re-runs whole pipelines)"
    assert {r["why"] for r in finding["reruns"]} == {why}
    assert {(r["run"], r["unit"]) for r in finding["reruns"]} == {("7", "pipeline")}
    assert world.store.names() == [] and world.repo.state.runners == {}

    assert world.gc("--yes")["findings"] == []  # the second gc: nothing, no second pipeline
    assert len(world.repo.state.pipelines) == 2


@bitbucket
def test_the_report_says_which_pipeline_ran_again(world: World) -> None:  # noqa: F811
    lost = step("train", "ERROR", started_on=stamp(world.created + 60))
    _launched(world, _pipeline(world, steps=[lost]))
    text = world.run_cli("gc", "--state", world.state, "--yes", env=world.env)
    assert text.returncode == 0, text.stderr
    assert (
        "re-ran pipeline 7 as pipeline 8 (Bitbucket re-runs whole pipelines) (lost step: train)"
    ) in text.stdout


@bitbucket
def test_a_refused_start_fails_the_finding_once_for_the_pipeline(world: World) -> None:  # noqa: F811
    after = stamp(world.created + 60)
    lost = [
        step("train a", "FAILED", started_on=after),
        step("train b", "FAILED", started_on=after),
    ]
    _launched(world, _pipeline(world, steps=lost))
    message = "bitbucket-pipelines.yml not found at that commit"
    world.repo.server.fail("bitbucket", "POST", r"/pipelines$", 400, message, times=None)
    report = world.gc("--yes", code=1)
    [finding] = report["findings"]
    assert finding["error"] == f"torn down, but could not re-run job {lost[0].uuid}, {lost[1].uuid}"
    first, second = finding["reruns"]
    assert first["outcome"] == "failed" and message in first["why"]
    assert second["why"] == "re-running pipeline 7 failed (see above)"  # asked once
    posts = [c for c in world.repo.server.api_calls("bitbucket") if c.method == "POST"]
    assert len(posts) == 1 and len(world.repo.state.pipelines) == 1
    assert world.store.names() == []


@bitbucket
def test_a_pipeline_already_rerun_or_itself_a_rerun_is_left(world: World) -> None:  # noqa: F811
    lost = step("train", "FAILED", started_on=stamp(world.created + 60))
    pipeline = _pipeline(world, steps=[lost])
    plant(world.repo.state, 9, fake_sha("other"))  # another commit: not a re-run of it
    plant(world.repo.state, 8, fake_sha("trained"))  # someone started it again
    _launched(world, pipeline)
    report = world.gc("--yes")
    assert reruns(report) == [(lost.uuid, "skipped")]
    why = report["findings"][0]["reruns"][0]["why"]
    assert why == "already re-run as pipeline 8 (a later pipeline on its commit and ref)"
    assert len(world.repo.state.pipelines) == 3

    # pipeline 8, a re-run of 7, loses its step with the runner it launched in turn
    again = step("train", "FAILED", started_on=stamp(world.created + 60))
    rerun = world.repo.state.pipelines[-1]
    rerun.steps = [step("launch", started_on=stamp(world.created - 30)), again]
    _launched(world, rerun)
    text = world.run_cli("gc", "--state", world.state, "--yes", env=world.env)
    assert text.returncode == 0, text.stderr
    assert (
        "left step train of pipeline 8: itself a re-run of pipeline 7 (an earlier one on its "
        "commit and ref)"
    ) in text.stdout
    assert len(world.repo.state.pipelines) == 3


@bitbucket
def test_a_step_still_running_makes_gc_wait(world: World) -> None:  # noqa: F811
    """Bitbucket notices a vanished runner only later: until the step has ended and its
    pipeline finished (a new one earlier would run the others twice), gc keeps the record."""
    train = step("train", state="IN_PROGRESS", started_on=stamp(world.created + 60))
    other = step("lint", state="IN_PROGRESS", started_on=stamp(world.created + 60))
    pipeline = _pipeline(world, state="IN_PROGRESS", steps=[train, other])
    _launched(world, pipeline)
    report = world.gc("--yes")
    [finding] = report["findings"]
    assert finding["status"] == "waiting" and "has not ended at the forge yet" in finding["detail"]
    assert set(reruns(report)) == {(train.uuid, "waiting"), (other.uuid, "waiting")}
    assert world.store.names() == ["cmlf-spot"] and world.repo.state.runners

    train.state, train.result = "COMPLETED", "FAILED"
    report = world.gc("--yes")
    assert reruns(report) == [(train.uuid, "waiting"), (other.uuid, "waiting")]
    assert report["findings"][0]["reruns"][0]["why"] == (
        "its pipeline has not finished (Bitbucket re-runs whole pipelines)"
    )
    other.state, other.result = "COMPLETED", "SUCCESSFUL"
    pipeline.state = "COMPLETED"
    report = world.gc("--yes")
    assert [f["status"] for f in report["findings"]] == ["fixed"]
    assert reruns(report) == [(train.uuid, "rerun")]
    assert [p.build_number for p in world.repo.state.pipelines] == [7, 8]
    assert world.store.names() == [] and world.repo.state.runners == {}


@bitbucket
def test_without_the_launching_pipeline_gc_says_why_and_the_sweep_succeeds(
    world: World,  # noqa: F811
) -> None:
    """A runner launched from elsewhere (a laptop, another CI) has no pipeline to look in."""
    world.record("cmlf-spot", runner_id="")
    report = world.gc("--yes")
    [finding] = report["findings"]
    assert finding["status"] == "fixed" and reruns(report) == []
    assert (
        "lost jobs not re-run: its lost steps cannot be found: Bitbucket does not say which "
        "runner ran a step, and this runner was not launched from a Bitbucket pipeline"
    ) in finding["detail"]
    paths = [c.path for c in world.repo.server.api_calls("bitbucket")]
    assert not [p for p in paths if "/pipelines" in p.replace("pipelines-config", "")], paths


@bitbucket
def test_a_launching_pipeline_from_a_tampered_registry_is_refused(world: World) -> None:  # noqa: F811
    """The record is in a registry others may write: its pipeline id is checked before it
    goes into a URL, and nothing leaves the repository's path."""
    record = _launched(world, _pipeline(world))
    record.launched_by["run"] += "/../../../../user"
    world.store.put(record)
    report = world.gc("--yes", code=1)
    assert "launching pipeline" in report["findings"][0]["error"]
    assert "is not a UUID" in report["findings"][0]["error"]
    paths = [c.path for c in world.repo.server.api_calls("bitbucket")]
    assert not [p for p in paths if "/pipelines/" in p or ".." in p], paths
    assert len(world.repo.state.pipelines) == 1


def test_the_launcher_is_the_pipeline_and_step_bitbucket_names() -> None:
    env = {
        "CI": "true",
        "BITBUCKET_BUILD_NUMBER": "7",
        "BITBUCKET_PIPELINE_UUID": "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
        "BITBUCKET_STEP_UUID": "{9f2c1e6a-0000-4000-8000-000000000001}",
    }
    assert launcher_job("bitbucket", env) == {
        "run": "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
        "step": "{9f2c1e6a-0000-4000-8000-000000000001}",
        "build": "7",
    }
    assert launcher_job("bitbucket", {**env, "CI": ""}) == {}  # not in a pipeline
    assert launcher_job("github", env) == {}


@bitbucket
def test_a_schedule_or_another_run_of_a_custom_pipeline_is_no_rerun(world: World) -> None:  # noqa: F811
    """Only a pipeline started through the API (a manual trigger), with the same variables,
    can be a re-run: a nightly schedule on an unchanged branch, or a custom pipeline run again
    by hand with other variables, is a pipeline of its own, whose lost step gc re-runs."""
    after = stamp(world.created + 60)
    nightly = "pipeline_trigger_schedule"
    _pipeline(world, 6, trigger=nightly, result="SUCCESSFUL")  # last night: same commit, ref
    lost = step("train", "FAILED", started_on=after)
    tonight = _pipeline(world, 7, trigger=nightly, steps=[lost])
    _launched(world, tonight)
    assert reruns(world.gc("--yes")) == [(lost.uuid, "rerun")]
    assert [p.build_number for p in world.repo.state.pipelines] == [6, 7, 8]

    custom = {"selector": {"type": "custom", "pattern": "train-gpu"}}
    manual = "pipeline_trigger_manual"
    epochs = [{"key": "EPOCHS", "value": "3"}]
    _pipeline(world, 20, trigger=manual, variables=epochs, result="SUCCESSFUL", **custom)
    lost = step("train", "FAILED", started_on=after)
    longer = [{"key": "EPOCHS", "value": "30"}]
    second = _pipeline(world, 21, trigger=manual, variables=longer, steps=[lost], **custom)
    _launched(world, second)
    assert reruns(world.gc("--yes")) == [(lost.uuid, "rerun")]
    assert world.repo.state.pipelines[-1].variables == longer

    # the re-run (22) of pipeline 21 loses its step too: that one is a re-run, left
    again = world.repo.state.pipelines[-1]
    again.state, again.result = "COMPLETED", "FAILED"
    lost = step("train", "FAILED", started_on=after)
    again.steps = [step("launch", started_on=stamp(world.created - 30)), lost]
    _launched(world, again)
    report = world.gc("--yes")
    assert reruns(report) == [(lost.uuid, "skipped")]
    assert "itself a re-run of pipeline 21" in report["findings"][0]["reruns"][0]["why"]


def test_gc_help_says_what_a_bitbucket_rerun_is(cli) -> None:
    result = cli("gc", "--help", env={"COLUMNS": "400"})
    assert result.returncode == 0
    assert "Bitbucket: the pipeline that launched the runner, started again as a new one" in (
        " ".join(result.stdout.split())
    )


@bitbucket
def test_a_launching_pipeline_of_another_repository_is_said_and_the_sweep_succeeds(
    world: World,  # noqa: F811
) -> None:
    """``runner launch --repo https://bitbucket.org/ws/demo`` in a step of another repository's
    pipeline (or one Bitbucket has since deleted): the pipeline is not in the runner's
    repository. gc says so in the finding, as for a runner launched outside a pipeline, and
    the teardown succeeds: no 404 that fails the sweep on every such runner."""
    elsewhere = {"run": "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}", "build": "3"}
    world.record("cmlf-spot", runner_id="", launched_by=elsewhere)
    report = world.gc("--yes")
    [finding] = report["findings"]
    assert finding["status"] == "fixed" and reruns(report) == []
    assert (
        "lost jobs not re-run: its lost steps cannot be found: the pipeline that launched it "
        "({1b4e28ba-2fa1-11d2-883f-0016d3cca427}, build 3) is not in ws/demo"
    ) in finding["detail"]
    assert world.store.names() == []
