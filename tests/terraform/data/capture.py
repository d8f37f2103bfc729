"""Regenerate the plan fixtures in this folder from real terraform runs.

    python -m tests.terraform.data.capture

Each ``tf<version>-<case>.json`` is ``terraform show -json tfplan`` exactly as that version
printed it. 1.0.3 has no ``terraform_data``, so its cases change outputs only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.fixtures.terraform_bins import TERRAFORM_VERSIONS

HERE = Path(__file__).parent


def _config(resources: bool, value: str, trigger: str, keep: bool = True) -> dict[str, Any]:
    config: dict[str, Any] = {"output": {"greeting": {"value": f"hello {value}"}}}
    if resources:
        runners = {"a": {"input": value, "triggers_replace": [trigger]}}
        if keep:
            runners["b"] = {"input": "static"}
        config["resource"] = {"terraform_data": runners}
    return config


def _tf(binary: Path, workdir: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    done = subprocess.run(
        [str(binary), *args], cwd=workdir, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _plan(binary: Path, workdir: Path, config: dict[str, Any], *extra: str) -> dict[str, Any]:
    (workdir / "main.tf.json").write_text(json.dumps(config))
    _tf(binary, workdir, "plan", "-input=false", "-out=tfplan", *extra)
    return dict(json.loads(_tf(binary, workdir, "show", "-json", "tfplan")))


def capture(version: str) -> None:
    binary = TERRAFORM_VERSIONS[version]()
    resources = version != "1.0.3"
    workdir = Path(tempfile.mkdtemp())
    try:
        cases = {"create": _config(resources, "v1", "t1")}
        (workdir / "main.tf.json").write_text(json.dumps(cases["create"]))
        _tf(binary, workdir, "init", "-input=false")
        plans = {"create": _plan(binary, workdir, cases["create"])}
        _tf(binary, workdir, "apply", "-input=false", "tfplan")
        plans["noop"] = _plan(binary, workdir, cases["create"])
        plans["update"] = _plan(binary, workdir, _config(resources, "v2", "t1"))
        if resources:
            plans["replace"] = _plan(binary, workdir, _config(resources, "v1", "t2"))
            plans["delete"] = _plan(binary, workdir, _config(resources, "v1", "t1", keep=False))
            before_destroy = _config(resources, "v1", "t2")
            before_destroy["resource"]["terraform_data"]["a"]["lifecycle"] = [
                {"create_before_destroy": True}
            ]
            plans["replace-cbd"] = _plan(binary, workdir, before_destroy)
        plans["destroy"] = _plan(binary, workdir, cases["create"], "-destroy")
        for case, plan in plans.items():
            (HERE / f"tf{version}-{case}.json").write_text(json.dumps(plan, indent=1) + "\n")
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    for version in TERRAFORM_VERSIONS:
        capture(version)
