"""``report build --dvc`` and ``--tensorboard`` on a real DVC project (git, DVC, an S3 remote on
moto) and real TensorBoard event files."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import pytest

from tests.fixtures.dvc_repo import DvcProject, git, make_project

PLOTS = """\
plots:
  - confusion.json:
      template: confusion
      x: actual
      y: predicted
  - scores.json:
      template: bar_horizontal
      x: score
      y: name
  - curves:
      template: smooth
      x: epoch
      y:
        loss.json: loss
        val.json: val_loss
  - sample.png
"""


def _extra_plots(root: Path, shift: int) -> None:
    labels = ["apple", "orange", "banana"]
    records = [
        {"actual": labels[i % 3], "predicted": labels[(i + (i % 4 == shift)) % 3]}
        for i in range(30)
    ]
    (root / "confusion.json").write_text(json.dumps(records))
    (root / "scores.json").write_text(
        json.dumps(
            [{"name": n, "score": 0.5 + 0.1 * i + 0.01 * shift} for i, n in enumerate(labels)]
        )
    )
    (root / "val.json").write_text(
        json.dumps([{"epoch": e, "val_loss": 1.0 / (e + 1 + shift)} for e in range(8)])
    )
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1], [shift, 1])
    figure.savefig(root / "sample.png")


@pytest.fixture(scope="module")
def project(moto_server, tmp_path_factory) -> DvcProject:  # type: ignore[no-untyped-def]
    """``main``: trained with lr 0.1; the workspace: lr 0.3, trained again (not committed)."""
    bucket = f"report-{secrets.token_hex(3)}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("dvc") / "project"
    project = make_project(root, moto_server.endpoint, bucket, moto_server.env)
    with (root / "dvc.yaml").open("a") as handle:
        handle.write(PLOTS)
    _extra_plots(root, 0)
    project.dvc("repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "trained")
    project.set_params(lr=0.3)
    _extra_plots(root, 1)
    project.dvc("repro", "-q")
    return project


def test_dvc_report_compares_metrics_params_and_draws_every_plot(project, cli, tmp_path) -> None:
    out = tmp_path / "r" / "report.md"
    start = time.monotonic()
    done = cli(
        "--json", "report", "build", "--dvc", "--base", "main", "--no-step-summary",
        "--out", str(out), cwd=project.root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 120
    report = out.read_text()
    # the same numbers `dvc metrics diff` / `dvc params diff` give
    diff = json.loads(project.dvc("metrics", "diff", "main", "--json"))["metrics.json"]
    accuracy = diff["accuracy"]
    row = re.search(r"\| `accuracy` \| ([\d.]+) \| ([\d.]+) \| ([+-][\d.]+) \|", report)
    assert row, report
    assert float(row.group(1)) == pytest.approx(accuracy["new"])
    assert float(row.group(2)) == pytest.approx(accuracy["old"])
    assert float(row.group(3)) == pytest.approx(accuracy["diff"], abs=1e-4)
    assert "| `lr` | 0.3 | 0.1 | +0.2 |" in report
    assert "| `epochs` | 8 | 8 | 0 |" in report
    assert "compared with `main:params.json`" in report
    summary = json.loads(done.stdout)
    captions = [i["caption"] for i in summary["images"]]
    for plot in ("loss.json", "confusion.json", "scores.json", "curves"):
        assert plot in captions, captions
    assert "sample.png (main)" in captions and "sample.png (workspace)" in captions
    for image in summary["images"]:
        assert Path(image["path"]).read_bytes().startswith(b"\x89PNG")
        assert Path(image["path"]).parent == out.parent
    assert not (out.parent / ".dvc-plots").exists()


def test_dvc_report_without_base_and_errors(project, cli, tmp_path) -> None:
    out = tmp_path / "report.md"
    done = cli("report", "build", "--dvc", "--no-step-summary", "--out", str(out), cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "| `lr` | 0.3 |" in out.read_text() and "| Base |" not in out.read_text()
    bad = cli("report", "build", "--dvc", "--base", "nope", "--out", str(out), cwd=project.root)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "cmlinfra: error: git does not know the ref 'nope'; fetch it first (git fetch origin "
        "nope, or fetch-depth: 0 in actions/checkout)"
    )
    elsewhere = cli("report", "build", "--dvc", "--out", str(out), cwd=tmp_path)
    assert elsewhere.returncode == 1
    assert "is not in a DVC repository" in elsewhere.stderr
    assert len(elsewhere.stderr.strip().splitlines()) == 1


def _write_events(logdir: Path, tag_values: dict[str, list[float]]) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for tag, values in tag_values.items():
        for step, value in enumerate(values):
            summary = Summary(value=[Summary.Value(tag=tag, simple_value=value)])
            writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()


def test_tensorboard_scalars_become_plots_and_last_values(cli, tmp_path) -> None:
    logs = tmp_path / "logs"
    _write_events(logs / "train", {"loss": [1.0, 0.5, 0.25], "lr": [0.1, 0.1, 0.05]})
    _write_events(logs / "eval", {"loss": [1.2, 0.7, 0.4]})
    out = tmp_path / "out" / "report.md"
    done = cli("--json", "report", "build", "--tensorboard", str(logs), "--no-step-summary",
               "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert "| `train/loss` | 0.25 |" in report
    assert "| `eval/loss` | 0.4 |" in report
    assert "| `train/lr` | 0.05 |" in report
    captions = [i["caption"] for i in json.loads(done.stdout)["images"]]
    assert captions == ["loss (TensorBoard)", "lr (TensorBoard)"]  # one plot per tag
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cli("report", "build", "--tensorboard", str(empty), "--out", str(out))
    assert none.returncode == 1 and "no TensorBoard event files" in none.stderr
