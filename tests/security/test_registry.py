"""Finding 4: the shared registry was code. ``runner destroy``/``gc`` on another machine
restored ``stack.tf.json`` from the state bucket and ran Terraform on it, so whoever could write
the bucket ran code with the sweeper's credentials.

Replayed on a real moto S3 registry with real Terraform 1.11.4: the bucket holds a tampered
configuration whose resource carries a destroy-time ``local-exec`` provisioner (Terraform core
runs it; no provider is needed), and a state that holds that resource. The sweeper now rebuilds
the configuration from the record's data with cmlinfra's own modules: the command never runs,
the orphaned resource is still destroyed, the runner is forgotten.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.base import MachineRequest
from cmlinfra.clouds.ssh.cloud import SshCloud
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import STACK, open_store
from tests.archives import tgz

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ5bMgD0aRVMZgTmHHkf0PcgbEFf8Rsd3h7ZeuQD8mH"
NAME = "cmlt-tampered"


def _metadata(name: str, state: str) -> dict[str, Any]:
    """What ``stack render`` records for an ssh-cloud machine: data only."""
    request = MachineRequest(name=name, host="192.0.2.20", host_key=HOST_KEY)
    machine = SshCloud().resolve(request)
    return {
        "name": name,
        "cloud": "ssh",
        "machine": dataclasses.asdict(machine),
        "created": time.time(),
        "expires": None,
        "terraform": "/usr/bin/terraform",
        "state": state,
        "status": "applied",
    }


def _evil_configuration(marker: Path) -> dict[str, Any]:
    return {
        "resource": {
            "terraform_data": {
                "pwn": {
                    "provisioner": [
                        {"local-exec": {"when": "destroy", "command": f"touch {marker}"}}
                    ]
                }
            }
        }
    }


def _state_holding_the_evil_resource(tmp_path: Path, marker: Path) -> bytes:
    """A real state with ``terraform_data.pwn`` in it (what the attacker also writes)."""
    work = tmp_path / "attacker"
    work.mkdir()
    (work / "main.tf.json").write_text(json.dumps(_evil_configuration(marker)))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "CHECKPOINT_DISABLE": "1"}
    for args in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        done = subprocess.run(
            ["terraform", *args], cwd=work, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    return (work / "terraform.tfstate").read_bytes()


@pytest.fixture
def registry(moto, tmp_path: Path) -> tuple[str, Any]:
    moto.client("s3").create_bucket(Bucket="cmlt-registry")
    state = f"s3://cmlt-registry/runners?region=us-east-1&endpoint={moto.endpoint}&lock=lockfile"
    return state, open_store(state)


def test_a_tampered_stack_in_the_bucket_never_runs(cli, moto, registry, tmp_path: Path) -> None:
    state, store = registry
    from cmlinfra.terraform import find_terraform, parse_state_url

    marker = tmp_path / "PWNED"
    backend = parse_state_url(state, name=NAME).block(find_terraform(None))
    evil = json.dumps({**_evil_configuration(marker), "terraform": {"backend": backend}}).encode()
    store.put(RunnerRecord(name=NAME, cloud="ssh", mode="exec", phase="ready"))
    store.put_blob(
        NAME,
        STACK,
        tgz(
            {
                "metadata.json": json.dumps(_metadata(NAME, state)).encode(),
                "terraform/stack.tf.json": evil,
            }
        ),
    )
    state_key = f"runners/{NAME}/terraform.tfstate"
    body = _state_holding_the_evil_resource(tmp_path, marker)
    moto.client("s3").put_object(Bucket="cmlt-registry", Key=state_key, Body=body)
    assert not marker.exists()

    env = {**moto.env, "CMLINFRA_HOME": str(tmp_path / "sweeper")}
    result = cli("runner", "destroy", NAME, "--state", state, env=env)
    assert not marker.exists(), "the bucket's configuration ran on the sweeper"
    assert result.returncode == 0, result.stderr
    assert open_store(state).names() == []
    listed = moto.client("s3").list_objects_v2(Bucket="cmlt-registry").get("Contents", [])
    assert listed == []  # destroyed and forgotten: state, stack, record and lock


@pytest.mark.parametrize(
    "damage",
    [
        {"name": "cmlt-someone-else"},
        {"cloud": "../../../tmp/evil"},
        {"machine": {"request": "not a request"}},
    ],
)
def test_a_record_that_cannot_be_rebuilt_is_not_run(
    cli, moto, registry, tmp_path: Path, damage: dict[str, Any]
) -> None:
    state, store = registry
    store.put(RunnerRecord(name=NAME, cloud="ssh", mode="exec", phase="ready"))
    metadata = {**_metadata(NAME, state), **damage}
    store.put_blob(NAME, STACK, tgz({"metadata.json": json.dumps(metadata).encode()}))
    env = {**moto.env, "CMLINFRA_HOME": str(tmp_path / "sweeper"), "CML_LOG": "warn"}
    result = cli("runner", "destroy", NAME, "--state", state, env=env)
    assert result.returncode == 0, result.stderr
    assert "its stored record is unusable" in result.stderr
    assert not (tmp_path / "sweeper" / "stacks" / NAME).exists()
