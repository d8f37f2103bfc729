"""`make demo`'s script, run for real: LXD machine through `cmlinfra exec`, training, report,
time breakdown, and the final check that nothing is left running (about two minutes, most of
it Debian's numpy/matplotlib installing inside the container)."""

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
    env = cli_env({"PYTHON": sys.executable, "CMLINFRA_HOME": str(tmp_path / "home")})
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
    assert result.returncode == 0, result.stderr[-4000:]
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
    for stage in ("cmlinfra exec", "inside exec: apply", "destroy", "total"):
        assert stage in breakdown
    listed = subprocess.run(
        ["lxc", "list", "--format", "csv", "-c", "n"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert name.group(1) not in listed
