"""``cmlinfra report build``: metrics, plots and notes into one markdown report.

The report is written to a file that ``comment create`` posts (and ``--publish`` uploads its
images), and in GitHub Actions it is also appended to the job summary. Building it is separate
from posting it so it can be checked locally and in any CI.
"""

from __future__ import annotations

from pathlib import Path

import typer

EXAMPLES = """
Examples:

  # metrics compared with the target branch, a loss curve, a confusion matrix
  cmlinfra report build --metrics metrics.json --base-ref origin/main \\
      --plot train_log.csv --confusion confusion.json --out report.md

  # compare with a metrics file downloaded from the main branch's last run
  cmlinfra report build --metrics metrics.json --base-metrics main-metrics.json

  # a DVC project: dvc.yaml's metrics, params and plots against main, TensorBoard curves
  cmlinfra report build --dvc --base origin/main --tensorboard logs --out report.md

  # add notes and a long log (collapsed), then post it
  cmlinfra report build --metrics metrics.json --section notes.md --section train.log
  cmlinfra comment create --publish report.md
"""


def _paragraphs(doc: str) -> str:
    """A docstring's paragraphs each on one line, so the terminal, not the source, wraps them."""
    return "\n\n".join(" ".join(p.split()) for p in doc.strip().split("\n\n"))


def register(root: typer.Typer) -> None:
    group = typer.Typer(
        help="Build the markdown report a pull request shows (metrics, plots, notes).",
        no_args_is_help=True,
    )
    group.command("build", help=_paragraphs(build.__doc__ or ""), epilog=EXAMPLES)(build)
    root.add_typer(group, name="report")


def build(
    ctx: typer.Context,
    metrics: list[Path] = typer.Option(
        [], "--metrics", help="Metrics file (JSON, YAML, CSV/TSV); repeat for several."
    ),
    base_metrics: list[Path] = typer.Option(
        [],
        "--base-metrics",
        help="The base branch's metrics file, one per --metrics, in the same order.",
    ),
    base_ref: str = typer.Option(
        "",
        "--base-ref",
        "--base",
        help="Git ref to compare metrics with (e.g. origin/main): the same paths at that ref "
        "(with --dvc: metrics, params and plots at that revision, as dvc metrics diff reads them).",
    ),
    dvc: bool = typer.Option(
        False,
        "--dvc",
        help="Add dvc.yaml's metrics and params (tables with deltas against --base) and every "
        "plot it defines (templates, multi-file, images) drawn as PNG, read with DVC's API.",
    ),
    dvc_root: Path = typer.Option(
        Path("."), "--dvc-root", help="The DVC repository for --dvc (default: here)."
    ),
    tensorboard: list[Path] = typer.Option(
        [],
        "--tensorboard",
        help="TensorBoard LOGDIR: a plot per scalar tag (a line per run) and each scalar's "
        "last value in the metrics table (repeatable).",
    ),
    plot: list[Path] = typer.Option(
        [], "--plot", help="Series file (CSV, or JSON records) drawn as a line chart."
    ),
    confusion: list[Path] = typer.Option(
        [], "--confusion", help="Confusion matrix (JSON/CSV matrix, or actual,predicted rows)."
    ),
    image: list[Path] = typer.Option([], "--image", help="An existing image to embed."),
    section: list[Path] = typer.Option(
        [], "--section", help="Markdown file (or a log, shown as code) added as a section."
    ),
    launch: list[Path] = typer.Option(
        [],
        "--launch",
        help="The --json output of exec, runner launch or stack apply: a Machine section says "
        "where the job ran, at what price, and which candidates were refused first.",
    ),
    title: str = typer.Option("Report", "--title", help="The report's heading."),
    out: Path = typer.Option(
        Path("report.md"), "--out", "-o", help="Where to write the report; plots go beside it."
    ),
    collapse_lines: int = typer.Option(
        30, "--collapse-lines", min=1, help="Sections longer than this are collapsed."
    ),
    step_summary: bool = typer.Option(
        True,
        "--step-summary/--no-step-summary",
        help="Also append to $GITHUB_STEP_SUMMARY when it is set (GitHub Actions).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the report's structure as JSON instead of a summary line."
    ),
) -> None:
    """Build a markdown report from metrics, plots, images and sections.

    Metrics are compared with the base branch's (--base-ref or --base-metrics): the table shows
    each value, the base value and the signed change. Plot images are written next to the
    report and linked by relative path, which `comment create --publish` uploads.
    """
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError

    if base_ref and base_metrics:
        raise UsageError("--base-ref and --base-metrics both given", "choose one")
    if base_metrics and len(base_metrics) != len(metrics):
        raise UsageError(
            f"{len(base_metrics)} --base-metrics for {len(metrics)} --metrics",
            "give one base file per metrics file, in the same order",
        )
    if not (metrics or plot or confusion or image or section or dvc or tensorboard or launch):
        raise UsageError(
            "nothing to report",
            "give --metrics, --plot, --confusion, --image, --section, --dvc, --tensorboard or "
            "--launch",
        )
    from cmlinfra.report.build import BuildRequest, build_report

    result = build_report(
        BuildRequest(
            metrics=metrics,
            base_metrics=base_metrics,
            base_ref=base_ref,
            plots=plot,
            confusions=confusion,
            images=image,
            sections=section,
            title=title,
            out=out,
            collapse_lines=collapse_lines,
            step_summary=step_summary,
            dvc=dvc,
            dvc_root=dvc_root,
            tensorboard=tensorboard,
            launches=launch,
        )
    )
    from cmlinfra.ui import emit

    emit(result, as_json=as_json or settings(ctx).as_json, text=result["summary"])
