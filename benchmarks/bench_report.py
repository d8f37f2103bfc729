"""Report building: the CI step's wall time, and the cost of fitting huge reports.

``report build`` runs in every training job, so its time (mostly importing and drawing with
matplotlib) adds to every pull request's feedback loop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row, Section, median_seconds

ROOT = Path(__file__).resolve().parents[1]


def _inputs(work: Path) -> list[str]:
    (work / "metrics.json").write_text(json.dumps({"accuracy": 0.91, "loss": 0.2, "f1": 0.8}))
    (work / "base.json").write_text(json.dumps({"accuracy": 0.9, "loss": 0.25}))
    (work / "train.csv").write_text(
        "epoch,loss,val_loss\n" + "".join(f"{e},{1 / e},{1.1 / e}\n" for e in range(1, 101))
    )
    labels = [f"c{i}" for i in range(10)]
    matrix = [[50 if i == j else i + j for j in range(10)] for i in range(10)]
    (work / "cm.json").write_text(json.dumps({"labels": labels, "matrix": matrix}))
    return [
        *("report", "build", "--metrics", "metrics.json", "--base-metrics", "base.json"),
        *("--plot", "train.csv", "--confusion", "cm.json", "--out", "out/report.md"),
    ]


def run() -> Section:
    from cmlinfra.report.limits import fit_to_limit
    from cmlinfra.report.plots import Series, line_plot

    section = Section("Reports", "python benchmarks/run.py report")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        args = _inputs(work)
        env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}

        def build() -> None:
            subprocess.run(
                [sys.executable, "-m", "cmlinfra", *args],
                cwd=work,
                env=env,
                check=True,
                capture_output=True,
            )

        section.rows.append(
            Row(
                "report build (metrics+base, 1 plot, 10x10 confusion)",
                median_seconds(build, 3),
                "s",
                "< 5 s",
                "subprocess, cold imports",
            )
        )
        series = Series(
            "epoch", [float(i) for i in range(1000)], {"loss": [1 / (i + 1) for i in range(1000)]}
        )
        section.rows.append(
            Row(
                "line plot, 1000 points",
                median_seconds(lambda: line_plot(series, work / "p.png"), 5) * 1000,
                "ms",
                "< 500 ms",
            )
        )
    doc = "".join(
        f"## Part {i}\n\n<details>\n<summary>log</summary>\n\n```\n"
        + "loss 0.1\n" * 500
        + "```\n\n</details>\n\n"
        for i in range(200)
    )
    ms = median_seconds(lambda: fit_to_limit(doc, 65_536), 5) * 1000
    section.rows.append(
        Row(f"fit_to_limit, {len(doc) / 1e6:.1f} M characters to 65,536", ms, "ms", "< 200 ms")
    )
    return section
