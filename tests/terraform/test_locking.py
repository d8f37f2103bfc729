"""State locking on S3 (moto) with real terraform: the lock is visible while an apply runs, a
second run gets a clear one-line error or waits, and concurrent applies never corrupt state.

An apply is held in its locked section by :class:`tests.terraform.gate.S3Gate`, which holds back
the upload of the state object (works on every version, no resource needed); the 1.11.4-only
test holds it with a ``local-exec`` provisioner that waits for a file instead.
"""

from __future__ import annotations

import json
import threading

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.terraform import state_resources
from tests.terraform.conftest import (
    Background,
    S3State,
    has_terraform_data,
    stack_config,
    workspace,
)

KEY = "stack/terraform.tfstate"
LOCK_MESSAGE = (
    r"^state is locked by \S+@\S+ since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*\(apply, lock ID "
)


def _wait(event, what: str) -> None:
    assert event.wait(60), f"timed out waiting for {what}"


def _hold_and_collide(holder_bin, other_bin, tmp_path, s3_state: S3State, gate, lock: str):
    """Hold an apply by ``holder_bin`` in its locked section; check the lock is visible and
    that ``other_bin`` gets the one-line lock error; then let the apply finish."""
    holder = workspace(
        holder_bin,
        tmp_path / "a",
        s3_state.backend(KEY, lock=lock, endpoint=gate.endpoint),
        stack_config(holder_bin),
    )
    other = workspace(
        other_bin, tmp_path / "b", s3_state.backend(KEY, lock=lock), stack_config(holder_bin)
    )
    holder.init()
    other.init()
    holder.plan()
    running = Background(holder.apply)
    _wait(gate.held, "the apply to upload its state")

    if lock == "dynamodb":
        [item] = s3_state.lock_items()
        assert item["LockID"]["S"] == f"{s3_state.bucket}/{KEY}"
        info = json.loads(item["Info"]["S"])
        assert info["Operation"] == "OperationTypeApply"
        assert info["Version"] == holder_bin.version_text
    else:
        assert f"{KEY}.tflock" in s3_state.objects()
        assert s3_state.lock_items() == []

    other.lock_timeout = "1s"
    with pytest.raises(CmlinfraError, match=LOCK_MESSAGE) as caught:
        other.plan()
    message = caught.value.line()
    assert "\n" not in message
    assert "cmlinfra gc" in message and "terraform force-unlock " in message
    if lock == "dynamodb":  # someone else's lock is never released by the engine
        assert len(s3_state.lock_items()) == 1
    assert not any("releasing state lock" in line for line in other.on_progress.lines)

    gate.release()
    running.result()
    assert s3_state.lock_items() == []
    assert f"{KEY}.tflock" not in s3_state.objects()
    if other_bin.version >= holder_bin.version:
        assert other.plan().has_changes is False  # sees what the holder applied


def test_dynamodb_lock_is_held_during_apply(tf, tmp_path, s3_state, s3_gate) -> None:
    _hold_and_collide(tf, tf, tmp_path, s3_state, s3_gate(KEY), "dynamodb")


def test_s3_lockfile_is_held_during_apply(tf_latest, tmp_path, s3_state, s3_gate) -> None:
    _hold_and_collide(tf_latest, tf_latest, tmp_path, s3_state, s3_gate(KEY), "lockfile")


@pytest.mark.parametrize("holder", ["1.11.4", "1.0.3"])
def test_lock_is_shared_across_versions(tf_versions, holder, tmp_path, s3_state, s3_gate):
    """The per-version backend blocks lock the same DynamoDB item: an apply by either version
    blocks the other version."""
    first = tf_versions[holder]
    [second] = [b for v, b in tf_versions.items() if v != holder]
    _hold_and_collide(first, second, tmp_path, s3_state, s3_gate(KEY), "dynamodb")


def test_second_apply_waits_for_the_lock(tf, tmp_path, s3_state: S3State, s3_gate) -> None:
    """Two runs on one state: the second plans only once the first has released the lock, so it
    plans against the first run's state and the result is one consistent state."""
    gate = s3_gate(KEY)
    first = workspace(
        tf, tmp_path / "a", s3_state.backend(KEY, endpoint=gate.endpoint), stack_config(tf)
    )
    second = workspace(tf, tmp_path / "b", s3_state.backend(KEY), stack_config(tf, value="v2"))
    first.init()
    second.init()
    first.plan()
    running = Background(first.apply)
    _wait(gate.held, "the first apply to upload its state")
    second.lock_timeout = "60s"
    waiting = Background(second.plan)
    lock_id = json.loads(s3_state.lock_items()[0]["Info"]["S"])["ID"]
    gate.release()
    running.result()
    plan = waiting.result()
    if has_terraform_data(tf):  # planned against the first run's state: update, not create
        assert [c.action for c in plan.changes] == ["update"]
    second.apply()
    state = s3_state.state(KEY)
    assert state["outputs"]["greeting"]["value"] == "hello v2"
    assert len(state["resources"]) == (1 if has_terraform_data(tf) else 0)
    assert s3_state.lock_items() == []
    assert lock_id


def test_stale_plan_is_refused(tf, tmp_path, s3_state: S3State) -> None:
    """A plan made before another run applied cannot be applied: terraform refuses, and the
    error says to plan again (the state is left as the other run wrote it)."""
    first = workspace(tf, tmp_path / "a", s3_state.backend(KEY), stack_config(tf, value="v0"))
    first.init()
    first.plan()
    first.apply()
    (tmp_path / "a" / "main.tf.json").write_text(json.dumps(stack_config(tf, value="v1")))
    second = workspace(tf, tmp_path / "b", s3_state.backend(KEY), stack_config(tf, value="v2"))
    second.init()
    first.plan()
    second.plan()
    first.apply()
    with pytest.raises(CmlinfraError, match="state changed since this plan was made"):
        second.apply()
    assert s3_state.state(KEY)["outputs"]["greeting"]["value"] == "hello v1"
    assert s3_state.lock_items() == []


def test_long_apply_holds_the_lock_with_terraform_data(tf_latest, tmp_path, s3_state) -> None:
    """1.11.4: a ``terraform_data`` whose provisioner waits for a file keeps the apply (and its
    lock) open; the lock item disappears once the file exists and the apply completes."""
    go = tmp_path / "go"
    creating = threading.Event()

    def progress(line: str) -> None:
        if line.startswith("terraform_data.runner: Creating"):
            creating.set()

    config = stack_config(tf_latest, wait_for=go)
    ws = workspace(tf_latest, tmp_path / "a", s3_state.backend(KEY), config, on_progress=progress)
    ws.init()
    ws.plan()
    running = Background(ws.apply)
    _wait(creating, "terraform_data.runner to start creating")
    [item] = s3_state.lock_items()
    assert json.loads(item["Info"]["S"])["Operation"] == "OperationTypeApply"
    go.touch()
    running.result()
    assert s3_state.lock_items() == []
    assert [r["address"] for r in state_resources(ws.show_state())] == ["terraform_data.runner"]


def test_stale_plan_from_empty_state_is_refused(tf, tmp_path, s3_state: S3State) -> None:
    first = workspace(tf, tmp_path / "a", s3_state.backend(KEY), stack_config(tf))
    second = workspace(tf, tmp_path / "b", s3_state.backend(KEY), stack_config(tf, value="v2"))
    first.init()
    second.init()
    first.plan()
    second.plan()
    first.apply()
    with pytest.raises(CmlinfraError, match="state changed since this plan was made"):
        second.apply()
    assert s3_state.state(KEY)["outputs"]["greeting"]["value"] == "hello v1"


def test_lock_left_by_a_lost_reply_is_released(tf, tmp_path, s3_state: S3State, s3_gate) -> None:
    """The DynamoDB reply to terraform's lock write is lost: the SDK retries, finds the item
    its first attempt wrote, and terraform waits on its own lock (a real terraform behaviour,
    on both versions). The engine recognizes its own lock ID, releases it, and retries once."""
    gate = s3_gate(KEY)
    gate.release()  # uploads pass; only the lock reply is lost
    gate.lose_lock_replies = 1
    backend = s3_state.backend(KEY, endpoint=gate.endpoint)
    ws = workspace(tf, tmp_path / "a", backend, stack_config(tf), lock_timeout="2s")
    ws.init()
    assert ws.plan().has_changes
    assert gate.lost.is_set()
    assert any("releasing state lock" in line for line in ws.on_progress.lines)
    ws.apply()
    assert s3_state.lock_items() == []
    assert s3_state.state(KEY)["outputs"]["greeting"]["value"] == "hello v1"
    assert not list((tmp_path / "a").glob(".cmlinfra-terraform-core.log"))  # never kept
