"""Engine test helpers: real terraform binaries (both versions), configurations that need no
provider download, S3 state on the moto server, and the gate that holds a real apply open."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.terraform import S3Backend, TerraformBinary, Workspace, find_terraform, write_backend
from cmlinfra.terraform.backends import Backend
from tests.fixtures.terraform_bins import TERRAFORM_VERSIONS
from tests.terraform.gate import S3Gate


@pytest.fixture
def tf(terraform_binary) -> TerraformBinary:
    """The engine's view of each real terraform version (runs the test on both)."""
    return find_terraform(str(terraform_binary.path))


@pytest.fixture
def tf_latest(terraform_latest) -> TerraformBinary:
    return find_terraform(str(terraform_latest.path))


@pytest.fixture
def tf_versions() -> dict[str, TerraformBinary]:
    """Both real versions at once, for tests where they meet on one state."""
    return {v: find_terraform(str(path())) for v, path in TERRAFORM_VERSIONS.items()}


def has_terraform_data(binary: TerraformBinary) -> bool:
    return binary.version >= (1, 4, 0)


def stack_config(
    binary: TerraformBinary, *, value: str = "v1", wait_for: Path | None = None
) -> dict[str, Any]:
    """A stack that needs no provider: outputs only on 1.0 (no ``terraform_data`` there), and a
    built-in ``terraform_data`` resource on newer versions. ``wait_for`` makes its creation block
    until that file exists (a condition the test controls, not a sleep)."""
    config: dict[str, Any] = {
        "output": {
            "greeting": {"value": f"hello {value}"},
            "api_hint": {"value": "sensitive-output-value", "sensitive": True},
        }
    }
    if has_terraform_data(binary):
        data: dict[str, Any] = {"input": value, "triggers_replace": ["fixed"]}
        if wait_for is not None:
            command = f"while [ ! -e '{wait_for}' ]; do sleep 0.1; done"
            data["provisioner"] = [{"local-exec": {"command": command}}]
        config["resource"] = {"terraform_data": {"runner": data}}
        config["output"]["runner_id"] = {"value": "${terraform_data.runner.id}"}
    return config


@dataclass
class Progress:
    lines: list[str] = field(default_factory=list)

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def workspace(
    binary: TerraformBinary,
    workdir: Path,
    backend: Backend,
    config: dict[str, Any],
    **kwargs: Any,
) -> Workspace:
    """A stack directory with ``main.tf.json`` and ``backend.tf.json`` written."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf.json").write_text(json.dumps(config, indent=2))
    write_backend(workdir, backend, binary)
    kwargs.setdefault("on_progress", Progress())
    kwargs.setdefault("lock_timeout", "10s")
    return Workspace(binary, workdir, **kwargs)


@dataclass(frozen=True)
class S3State:
    """A bucket and a lock table on the moto server."""

    moto: Any
    bucket: str
    table: str

    def backend(self, key: str = "stack/terraform.tfstate", **kwargs: Any) -> S3Backend:
        kwargs.setdefault("endpoint", self.moto.endpoint)
        kwargs.setdefault("dynamodb_table", self.table)
        return S3Backend(self.bucket, key, "us-east-1", **kwargs)

    def lock_items(self) -> list[dict[str, Any]]:
        """DynamoDB lock items (the ``-md5`` digest items terraform keeps are left out)."""
        items = self.moto.client("dynamodb").scan(TableName=self.table)["Items"]
        return [i for i in items if not i["LockID"]["S"].endswith("-md5")]

    def objects(self) -> list[str]:
        listed = self.moto.client("s3").list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listed.get("Contents", ()))

    def state(self, key: str = "stack/terraform.tfstate") -> dict[str, Any]:
        body = self.moto.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"]
        return dict(json.loads(body.read()))


@pytest.fixture
def s3_state(moto) -> S3State:
    bucket = f"tfstate-{uuid.uuid4().hex[:12]}"
    table = f"locks-{uuid.uuid4().hex[:8]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    moto.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return S3State(moto, bucket, table)


@pytest.fixture
def s3_gate(s3_state: S3State) -> Iterator[Callable[[str], S3Gate]]:
    """``s3_gate(key)``: a gate in front of moto holding the upload of state object ``key``."""
    gates: list[S3Gate] = []

    def make(key: str) -> S3Gate:
        gates.append(S3Gate(s3_state.moto.endpoint, s3_state.bucket, key))
        return gates[-1]

    yield make
    for gate in gates:
        gate.close()


class Background:
    """Run a callable in a thread; ``result()`` re-raises what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._error: BaseException | None = None
        self._value: Any = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as exc:
                self._error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self, timeout: float = 120) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "background terraform did not finish in time"
        if self._error is not None:
            raise self._error
        return self._value
