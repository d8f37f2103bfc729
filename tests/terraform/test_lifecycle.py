"""The whole lifecycle with real terraform (1.0.3 and 1.11.4), on local and S3 (moto) state."""

from __future__ import annotations

import json

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret
from cmlinfra.terraform import LocalBackend, state_resources
from tests.terraform.conftest import S3State, has_terraform_data, stack_config, workspace


def _lifecycle(ws, tf) -> None:
    ws.init()
    first = ws.plan()
    assert first.has_changes
    assert "greeting" in first.output_changes
    if has_terraform_data(tf):
        assert [(c.address, c.action) for c in first.changes] == [
            ("terraform_data.runner", "create")
        ]
        assert (first.create, first.destructive) == (1, False)
    ws.apply()
    outputs = ws.outputs()
    assert outputs["greeting"] == "hello v1"
    assert isinstance(outputs["api_hint"], Secret)  # sensitive outputs never print by accident
    assert outputs["api_hint"].reveal() == "sensitive-output-value"
    assert "sensitive-output-value" not in repr(outputs)
    state = ws.show_state()
    addresses = [r["address"] for r in state_resources(state)]
    assert addresses == (["terraform_data.runner"] if has_terraform_data(tf) else [])
    if has_terraform_data(tf):
        assert outputs["runner_id"] == state_resources(state)[0]["values"]["id"]

    again = ws.plan()
    assert not again.has_changes, again.to_dict()
    assert again.create == again.update == again.delete == again.replace == 0

    ws.destroy()
    assert state_resources(ws.show_state()) == []
    assert ws.outputs() == {}
    progress = "\n".join(ws.on_progress.lines)
    assert "terraform init" in progress
    if has_terraform_data(tf):
        assert "terraform_data.runner: Creating..." in progress
        assert progress.count("terraform_data.runner: Plan to create") == 1  # not again on apply
        assert "terraform_data.runner: Destroying..." in progress


def test_lifecycle_local_state(tf, tmp_path) -> None:
    state = tmp_path / "state" / "terraform.tfstate"
    ws = workspace(tf, tmp_path / "stack", LocalBackend(state), stack_config(tf))
    _lifecycle(ws, tf)
    assert json.loads(state.read_text())["serial"] >= 2


@pytest.mark.parametrize("lock", ["dynamodb", "lockfile"])
def test_lifecycle_s3_state(tf, tmp_path, s3_state: S3State, lock: str) -> None:
    backend = s3_state.backend(lock=lock)
    if lock == "lockfile" and tf.version < (1, 10, 0):
        with pytest.raises(CmlinfraError, match=r"lockfile locking needs terraform >= 1\.10"):
            workspace(tf, tmp_path / "stack", backend, stack_config(tf))
        return
    ws = workspace(tf, tmp_path / "stack", backend, stack_config(tf))
    ws.init()
    ws.plan()
    ws.apply()
    # the state object is in S3, written by this version, holding what was applied
    assert s3_state.objects() == ["stack/terraform.tfstate"]
    stored = s3_state.state()
    assert stored["terraform_version"] == tf.version_text
    assert stored["outputs"]["greeting"]["value"] == "hello v1"
    assert s3_state.lock_items() == []  # released after apply
    assert not ws.plan().has_changes
    ws.destroy()
    assert s3_state.state()["resources"] == []
    assert s3_state.lock_items() == []


def test_replace_and_update_are_summarized(tf_latest, tmp_path) -> None:
    """Changing ``input`` updates; changing ``triggers_replace`` replaces (destructive)."""
    tf = tf_latest
    stack = tmp_path / "stack"
    backend = LocalBackend(tmp_path / "terraform.tfstate")
    ws = workspace(tf, stack, backend, stack_config(tf))
    ws.init()
    ws.plan()
    ws.apply()

    config = stack_config(tf, value="v2")
    (stack / "main.tf.json").write_text(json.dumps(config))
    update = ws.plan()
    assert [(c.address, c.action) for c in update.changes] == [("terraform_data.runner", "update")]
    assert not update.destructive

    config["resource"]["terraform_data"]["runner"]["triggers_replace"] = ["changed"]
    (stack / "main.tf.json").write_text(json.dumps(config))
    replace = ws.plan()
    assert (replace.replace, replace.destructive) == (1, True)
    text = ws.plan_text()  # what people review in a plan comment
    assert "terraform_data.runner must be replaced" in text
    assert "\x1b[" not in text  # no colour codes
    before = ws.outputs()["runner_id"]
    ws.apply()
    assert ws.outputs()["runner_id"] != before

    destroy = ws.plan(destroy=True)
    assert [c.action for c in destroy.changes] == ["delete"]
    assert destroy.destructive
    ws.apply()
    assert state_resources(ws.show_state()) == []
