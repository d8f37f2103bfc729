"""``report build --launch``: where the job ran, its price, and the candidates refused first
(docs/failover.md), from the --json of exec / runner launch / stack apply."""

from __future__ import annotations

import json
from pathlib import Path

EXEC_JSON = {  # the shape of `cmlinfra --json exec …` after a failover
    "name": "cml-x",
    "exit_code": 0,
    "machine": {
        "cloud": "aws",
        "region": "us-east-1",
        "type": "g5.xlarge",
        "spot": True,
        "hourly_price": 0.4312,
    },
    "attempts": [
        {
            "cloud": "aws",
            "region": "us-west-2",
            "type": "g5.xlarge",
            "spot": True,
            "price": 0.39,
            "outcome": "capacity",
            "error": "creating EC2 Instance: InsufficientInstanceCapacity: We currently do not "
            "have sufficient g5.xlarge capacity | in us-west-2a",
            "seconds": 9.1,
            "tries": 1,
        },
        {
            "cloud": "aws",
            "region": "us-east-1",
            "type": "g5.xlarge",
            "spot": True,
            "price": 0.4312,
            "outcome": "launched",
            "error": "",
            "seconds": 40.2,
            "tries": 1,
        },
    ],
}


def test_the_machine_section(cli, tmp_path: Path) -> None:
    launch = tmp_path / "exec.json"
    launch.write_text(json.dumps(EXEC_JSON))
    out = tmp_path / "report.md"
    done = cli("report", "build", "--launch", str(launch), "--out", str(out), "--no-step-summary")
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "### Machine" in text
    assert "Ran on **aws us-east-1 g5.xlarge spot** ($0.4312/h), after 1 refused candidate." in text
    assert "| 1 | aws us-west-2 g5.xlarge spot | $0.39/h | capacity | creating EC2" in text
    assert "capacity \\| in us-west-2a |" in text  # a | in the cloud's words stays in its cell
    assert "| 2 | aws us-east-1 g5.xlarge spot | $0.4312/h | launched |  |" in text


def test_one_candidate_is_one_line(cli, tmp_path: Path) -> None:
    launch = tmp_path / "launch.json"
    single = {**EXEC_JSON, "machine": {**EXEC_JSON["machine"], "spot": False}}
    launch.write_text(json.dumps({**single, "attempts": [EXEC_JSON["attempts"][1]]}))
    out = tmp_path / "report.md"
    done = cli("report", "build", "--launch", str(launch), "--out", str(out), "--no-step-summary")
    assert done.returncode == 0, done.stderr
    assert "Ran on **aws us-east-1 g5.xlarge** ($0.4312/h)." in out.read_text()
    assert "| # |" not in out.read_text()


def test_a_file_that_is_not_a_launch_is_one_line(cli, tmp_path: Path) -> None:
    other = tmp_path / "metrics.json"
    other.write_text('{"acc": 0.9}')
    done = cli("report", "build", "--launch", str(other), "--out", str(tmp_path / "r.md"))
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"cmlinfra: error: --launch file {other} says nothing of a machine; give the --json "
        "output of exec, runner launch or stack apply"
    )
