"""The workflows we ship (``action.yml``, ``examples/github/*.yml``) follow GitHub's hardening
guidance: actions pinned to full commit SHAs with the version in a comment, least-privilege
``permissions:`` per job, ``persist-credentials: false`` where a job does not push — and the
GitHub Actions security linter zizmor, run offline, reports nothing (``zizmor.yml`` holds its
one exception: this project's own action, pinned by the user's copy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "github").glob("*.yml"))
CLOUD_LOGINS = {
    "aws-actions/configure-aws-credentials",
    "google-github-actions/auth",
    "azure/login",
}
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+")


def _uses_lines(path: Path) -> list[str]:
    """Each ``uses:`` value with its comment, as written."""
    return [
        line.split("uses:", 1)[1].strip()
        for line in path.read_text().splitlines()
        if re.match(r"\s*(- )?uses:", line)
    ]


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))
    return dict(data)


def test_zizmor_reports_nothing() -> None:
    zizmor = Path(sys.executable).with_name("zizmor")
    done = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", "--config", str(ROOT / "zizmor.yml"),
         str(ACTION), *map(str, WORKFLOWS)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    for uses in _uses_lines(path):
        if uses.startswith("cmlinfra/cmlinfra@"):
            continue  # this project's own action: the user pins it in their copy
        assert PINNED.fullmatch(uses), f"{path.name}: {uses}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_per_job_and_no_persisted_credentials(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}
    for job_id, job in workflow["jobs"].items():
        granted = job["permissions"]
        assert granted.get("contents") == "read", job_id
        assert "write-all" not in str(granted), job_id
        runs = " ".join(step.get("run", "") for step in job["steps"])
        if "id-token" in granted:  # only where a cloud's credentials are assumed through OIDC
            uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
            assert set(uses) & CLOUD_LOGINS, job_id
        if granted.get("pull-requests") == "write":  # only where a comment is posted
            assert "comment" in runs, job_id
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, job_id
