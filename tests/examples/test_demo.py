"""`make demo`'s script, run for real: the fruit data versioned with DVC, an LXD machine through
`cmlinfra exec --dvc --commit` (data pulled, trained, model pushed, lock committed), the report,
the model pulled back in a fresh clone, the time breakdown, and the final check that nothing is
left running (a few minutes, most of it Debian's numpy/matplotlib installing in the container)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.cli import REPO_ROOT, cli_env

pytestmark = [pytest.mark.lxd, pytest.mark.slow]


def test_demo_end_to_end(tmp_path: Path) -> None:
    """Results go where `make demo` puts them, .cache/demo in the checkout: a folder git
    ignores, which exec must still send (it once sent nothing from there)."""
    out = REPO_ROOT / ".cache" / "demo"
    env = cli_env(
        {
            "PYTHON": sys.executable,
            "CMLINFRA_HOME": str(tmp_path / "home"),
            # the DVC toolbox sent to the machine: built once per checkout, shared with
            # tests/runner/test_dvc_lxd.py
            "CMLINFRA_CACHE": str(REPO_ROOT / ".cache" / "cmlinfra"),
        }
    )
    env.pop("DEMO_OUT", None)
    result = subprocess.run(
        ["scripts/demo.sh"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n---- stderr:\n{result.stderr[-4000:]}"
    report = (out / "report.md").read_text()
    assert result.stdout.endswith(report)
    assert re.search(r"\| `accuracy` \| 0\.96\d* \|", report), report
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report):
        assert (out / image).read_bytes().startswith(b"\x89PNG")
    name = re.search(
        r"containers named (cml-demo-[0-9a-f]+): 0; stack directory: gone", result.stderr
    )
    assert name, result.stderr[-2000:]
    breakdown = result.stderr[result.stderr.index("time breakdown") :]
    for stage in (
        "cmlinfra exec",
        "inside exec: apply",
        "dvc pull",
        "dvc push",
        "destroy",
        "total",
    ):
        assert stage in breakdown
    assert "model pulled back from the remote and matching dvc.lock" in result.stderr
    assert "--commit: pushed" in result.stderr
    listed = subprocess.run(
        ["lxc", "list", "--format", "csv", "-c", "n"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert name.group(1) not in listed
