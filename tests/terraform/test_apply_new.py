"""``Workspace.apply_new``: a new stack planned and applied by one terraform run (real 1.0.3 and
1.11.4). What it must keep from plan + show + state pull + apply: the right summary, the state
lock for the whole run, and a refused configuration creating nothing."""

from __future__ import annotations

import json
import subprocess

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.terraform import LocalBackend, state_resources, summarize_plan
from cmlinfra.terraform.plan import summarize_stream
from tests.terraform.conftest import (
    Background,
    S3State,
    has_terraform_data,
    stack_config,
    workspace,
)


def _spans(path) -> list[str]:
    return [json.loads(line)["span"] for line in path.read_text().splitlines()]


def test_one_terraform_run_plans_and_applies(tf, tmp_path, monkeypatch) -> None:
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv("CMLINFRA_TRACE", str(trace))
    ws = workspace(tf, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), stack_config(tf))
    ws.init()
    applied = ws.apply_new()
    assert _spans(trace) == ["terraform init", "terraform apply"]  # no plan, show, state pull
    if has_terraform_data(tf):
        assert [(c.address, c.action) for c in applied.summary.changes] == [
            ("terraform_data.runner", "create")
        ]
        assert (applied.summary.create, applied.summary.destructive) == (1, False)
    assert applied.outputs is None  # a sensitive output: terraform leaves its value out
    assert ws.outputs()["greeting"] == "hello v1"
    assert not ws.plan().has_changes  # what was planned is what was applied
    progress = "\n".join(ws.on_progress.lines)
    assert "Plan: " in progress  # terraform's own plan line comes before anything is created
    if has_terraform_data(tf):
        assert progress.count("terraform_data.runner: Plan to create") == 1
        assert progress.index("Plan to create") < progress.index("Creating...")


def test_outputs_come_from_the_run_when_none_is_sensitive(tf, tmp_path) -> None:
    config = stack_config(tf)
    del config["output"]["api_hint"]
    ws = workspace(tf, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), config)
    ws.init()
    applied = ws.apply_new()
    assert applied.outputs is not None
    assert applied.outputs == ws.outputs()


def test_a_refused_configuration_creates_nothing(tf, tmp_path) -> None:
    config = stack_config(tf)
    config["output"]["broken"] = {"value": "${var.missing}"}
    state = tmp_path / "s.tfstate"
    ws = workspace(tf, tmp_path / "stack", LocalBackend(state), config)
    ws.init()
    with pytest.raises(CmlinfraError, match="undeclared input variable"):
        ws.apply_new()
    assert not state.exists() or not json.loads(state.read_text()).get("resources")


def test_the_state_is_locked_for_the_whole_run(tf, tmp_path, s3_state: S3State, s3_gate) -> None:
    """Held while uploading its state, the one run still holds the lock: another run gets
    the one-line lock error, and the lock is released when it ends."""
    key = "stack/terraform.tfstate"
    gate = s3_gate(key)
    holder = workspace(
        tf, tmp_path / "a", s3_state.backend(key, endpoint=gate.endpoint), stack_config(tf)
    )
    other = workspace(tf, tmp_path / "b", s3_state.backend(key), stack_config(tf))
    holder.init()
    other.init()
    running = Background(holder.apply_new)
    assert gate.held.wait(60), "the run never uploaded its state"
    [item] = s3_state.lock_items()
    assert json.loads(item["Info"]["S"])["Operation"] == "OperationTypeApply"
    other.lock_timeout = "1s"
    with pytest.raises(CmlinfraError, match="state is locked by"):
        other.plan()
    gate.release()
    running.result()
    assert s3_state.lock_items() == []
    assert not other.plan().has_changes


def test_the_stream_summary_matches_the_saved_plan(tf_latest, tmp_path) -> None:
    """Create, update, replace, delete: the ``planned_change`` stream gives the summary that
    ``show -json`` of the same plan gives (the reviewed path)."""
    tf = tf_latest
    stack = tmp_path / "stack"
    ws = workspace(tf, stack, LocalBackend(tmp_path / "s.tfstate"), stack_config(tf))
    ws.init()

    def both(*extra: str) -> tuple:
        run = subprocess.run(
            [str(tf.path), "plan", "-json", "-input=false", "-out=check.tfplan", *extra],
            cwd=stack,
            env=ws.environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        stream = summarize_stream([json.loads(line) for line in run.stdout.splitlines()])
        shown = subprocess.run(
            [str(tf.path), "show", "-json", "check.tfplan"],
            cwd=stack,
            env=ws.environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        saved = summarize_plan(json.loads(shown.stdout))
        no_ops = [c for c in saved.changes if c.action != "no-op"]
        assert [(c.address, c.action) for c in stream.changes] == [
            (c.address, c.action) for c in no_ops
        ]
        return stream.headline(), saved.headline()

    created = both()
    assert created[0] == created[1] == "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete."
    ws.apply_new()
    config = stack_config(tf, value="v2")
    (stack / "main.tf.json").write_text(json.dumps(config))
    updated = both()
    assert updated[0] == updated[1] and "1 to update" in updated[0]
    config["resource"]["terraform_data"]["runner"]["triggers_replace"] = ["changed"]
    (stack / "main.tf.json").write_text(json.dumps(config))
    replaced = both()
    assert replaced[0] == replaced[1] and "1 to replace" in replaced[0]
    deleted = both("-destroy")
    assert deleted[0] == deleted[1] and "1 to delete" in deleted[0]
    assert state_resources(ws.show_state())  # none of the checks applied anything


def test_unknown_stream_actions_still_count_as_changes() -> None:
    message = {
        "type": "planned_change",
        "change": {
            "resource": {"addr": "x.y", "resource_type": "x", "resource_name": "y"},
            "action": "teleport",
        },
    }
    drift = {"type": "resource_drift", "change": {"resource": {"addr": "x.z"}}}
    summary = summarize_stream([message, drift])
    assert summary.has_changes and summary.update == 1
    assert summary.warnings == ("x.z was changed outside terraform",)
