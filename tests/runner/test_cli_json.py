"""``cmlinfra --json runner destroy``: one JSON object on stdout, like every other command
(the AWS side is a real moto server, holding no machine for the record any more)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import open_store
from tests.fixtures.cli import CliRunner
from tests.fixtures.moto import MotoServer


def test_runner_destroy_json_is_one_object(
    cli: CliRunner, moto: MotoServer, tmp_path: Path
) -> None:
    state = str(tmp_path / "registry")
    store = open_store(state)
    for name in ("cml-a", "cml-b"):
        store.put(
            RunnerRecord(
                name=name,
                cloud="aws",
                region="us-east-1",
                instance_type="t3.medium",
                phase="ready",
                created=time.time(),
            )
        )
    env = {**moto.env, "CMLINFRA_HOME": str(tmp_path / "home")}
    result = cli("--json", "runner", "destroy", "cml-a", "cml-b", "--state", state, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"destroyed": ["cml-a", "cml-b"]}
    assert open_store(state).names() == []

    plain = cli("runner", "destroy", "--all", "--state", state, env=env)
    assert (plain.returncode, plain.stdout) == (0, "no runners\n"), plain.stderr
