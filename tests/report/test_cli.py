"""``cmlinfra report build`` as a CI step runs it: a subprocess in a real git checkout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.fixtures.cli import CliRunner


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A training repository: metrics on main, a branch that improved them and wrote logs."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "metrics.json").write_text('{"accuracy": 0.88, "loss": 0.31, "val": {"f1": 0.7}}')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "baseline")
    git(repo, "checkout", "-qb", "better-model")
    (repo / "metrics.json").write_text('{"accuracy": 0.91, "loss": 0.25, "val": {"f1": 0.74}}')
    (repo / "train.csv").write_text(
        "epoch,loss,val_loss\n" + "".join(f"{e},{1 / e:.3f},{1.1 / e:.3f}\n" for e in range(1, 9))
    )
    (repo / "confusion.json").write_text(
        json.dumps({"labels": ["cat", "dog", "fox"], "matrix": [[9, 1, 0], [2, 8, 0], [0, 1, 9]]})
    )
    (repo / "notes.md").write_text("# What changed\n\nA wider first layer.\n")
    (repo / "train.log").write_text(
        "".join(f"step {i} loss {1 / (i + 1):.4f}\n" for i in range(80))
    )
    return repo


def test_build_a_full_report(cli: CliRunner, project: Path) -> None:
    summary = project / "step-summary.md"
    summary.write_text("### Setup\n")
    result = cli(
        *("report", "build", "--metrics", "metrics.json", "--base-ref", "main"),
        *("--plot", "train.csv", "--confusion", "confusion.json"),
        *("--section", "notes.md", "--section", "train.log"),
        *("--title", "Training report", "--out", "out/report.md"),
        cwd=project,
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote out/report.md (3 metrics, 2 images, 2 sections;")
    report = (project / "out" / "report.md").read_text()
    assert report.startswith("## Training report\n\n### Metrics\n\n")
    assert "From `metrics.json`, compared with `main:metrics.json`." in report
    assert "| `accuracy` | 0.91 | 0.88 | +0.03 |" in report
    assert "| `loss` | 0.25 | 0.31 | -0.06 |" in report
    assert "| `val.f1` | 0.74 | 0.7 | +0.04 |" in report
    assert "![train](plot-train.png)" in report
    assert "![confusion matrix (confusion)](confusion-confusion.png)" in report
    assert "### What changed\n\nA wider first layer." in report
    assert "<details>\n<summary>Train</summary>\n\n```\nstep 0 loss 1.0000" in report
    with Image.open(project / "out" / "plot-train.png") as image:
        assert image.size == (640, 400)
    with Image.open(project / "out" / "confusion-confusion.png") as image:
        assert image.size == (430, 430)
    # the summary page cannot show the runner's files: alt text and a note instead
    shown = report.replace("![train](plot-train.png)", "*train* (image in the PR comment)")
    shown = shown.replace(
        "![confusion matrix (confusion)](confusion-confusion.png)",
        "*confusion matrix (confusion)* (image in the PR comment)",
    )
    assert summary.read_text() == "### Setup\n\n" + shown


def test_section_images_are_repointed_to_the_out_folder(cli: CliRunner, project: Path) -> None:
    (project / "notes").mkdir()
    (project / "notes" / "fig 1.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (project / "notes" / "n.md").write_text(
        '# Notes\n\n![fig](fig%201.png "t") <img src="./fig 1.png">\n\n'
        "```\n![kept](as-written.png)\n```\n\n![web](https://example.com/a.png)\n"
    )
    args = ("report", "build", "--section", "notes/n.md", "--out", "out/report.md")
    result = cli(*args, cwd=project)
    assert result.returncode == 0, result.stderr
    report = (project / "out" / "report.md").read_text()
    assert '![fig](../notes/fig%201.png "t") <img src="../notes/fig%201.png">' in report
    assert "![kept](as-written.png)" in report and "(https://example.com/a.png)" in report
    assert (project / "out" / "../notes/fig 1.png").is_file()


def test_a_metrics_file_new_in_this_branch_has_no_base(cli: CliRunner, project: Path) -> None:
    (project / "eval.yaml").write_text("bleu: 31.5\n")
    result = cli("report", "build", "--metrics", "eval.yaml", "--base-ref", "main", cwd=project)
    assert result.returncode == 0, result.stderr
    report = (project / "report.md").read_text()
    assert "From `eval.yaml` (not in `main` yet)." in report
    assert "| Metric | Value |\n|---|---|\n| `bleu` | 31.5 |" in report


def test_repeated_runs_give_identical_images(cli: CliRunner, project: Path) -> None:
    for out in ("a", "b"):
        args = ("--plot", "train.csv", "--confusion", "confusion.json", "--out", f"{out}/r.md")
        result = cli("report", "build", *args, cwd=project)
        assert result.returncode == 0, result.stderr
    for name in ("plot-train.png", "confusion-confusion.png"):
        assert (project / "a" / name).read_bytes() == (project / "b" / name).read_bytes()


def test_json_structure(cli: CliRunner, project: Path) -> None:
    (project / "base.yaml").write_text("accuracy: 0.9\nold_metric: 1\n")
    result = cli(
        *("report", "build", "--json", "--metrics", "metrics.json"),
        *("--base-metrics", "base.yaml", "--out", "r.md", "--no-step-summary"),
        cwd=project,
        env={"GITHUB_STEP_SUMMARY": str(project / "never.md")},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["out"] == "r.md" and data["step_summary"] is None
    rows = {r["name"]: r for r in data["metrics"][0]["rows"]}
    assert data["metrics"][0]["base"] == "base.yaml"
    assert rows["accuracy"]["base"] == 0.9 and abs(rows["accuracy"]["delta"] - 0.01) < 1e-9
    assert rows["loss"]["status"] == "new" and rows["old_metric"]["status"] == "removed"
    assert not (project / "never.md").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--metrics", "bad.json"), 1, "cannot read metrics file bad.json line 2 column 1"),
        (("--metrics", "missing.json"), 1, "metrics file missing.json does not exist"),
        (("--metrics", "metrics.json", "--base-ref", "mian"), 1, "git does not know the ref"),
        (("--plot", "bad.csv"), 1, "cannot plot bad.csv line 3: 'x' is not a number"),
        (("--metrics", "metrics.json", "--base-ref", "main", "--base-metrics", "m"), 2, "choose"),
        (("--metrics", "metrics.json", "--base-metrics", "a", "--base-metrics", "b"), 2, "2 --b"),
        ((), 2, "nothing to report"),
        (("--image", "nope.png"), 1, "image nope.png does not exist"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(
    cli: CliRunner, project: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    (project / "bad.json").write_text('{"a": 1\n"b": 2}')
    (project / "bad.csv").write_text("step,loss\n1,0.5\n2,x\n")
    result = cli("report", "build", *args, "--out", "out/report.md", cwd=project)
    assert result.returncode == code
    assert result.stderr.startswith("cmlinfra: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (project / "out").exists()


def test_help_has_examples(cli: CliRunner) -> None:
    result = cli("report", "build", "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0
    assert "--base-ref origin/main" in result.stdout and "CML_REPORT_METRICS" in result.stdout


def test_a_full_step_summary_is_a_warning(cli: CliRunner, project: Path) -> None:
    summary = project / "step-summary.md"
    summary.write_bytes(b"x" * (1024 * 1024 - 100))
    args = ("report", "build", "--section", "train.log", "--out", "report.md")
    result = cli(*args, cwd=project, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stderr
    assert "warning: not added to $GITHUB_STEP_SUMMARY" in result.stderr
    assert (project / "report.md").is_file() and summary.stat().st_size == 1024 * 1024 - 100
