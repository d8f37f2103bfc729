"""``report build`` as a function: read the inputs, draw the plots, write the markdown.

Kept apart from the CLI module so the runner's exec mode can build the same report in-process
after a training run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.limits import GITHUB_COMMENT_LIMIT
from cmlinfra.report.markdown import (
    Image,
    MetricsTable,
    Report,
    render,
    section_from_file,
    titled_tables,
    write_step_summary,
)
from cmlinfra.report.metrics import compare, load_base_metrics, load_metrics


@dataclass(frozen=True)
class BuildRequest:
    metrics: list[Path] = field(default_factory=list)
    base_metrics: list[Path] = field(default_factory=list)
    base_ref: str = ""
    plots: list[Path] = field(default_factory=list)
    confusions: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    sections: list[Path] = field(default_factory=list)
    title: str = "Report"
    out: Path = Path("report.md")
    collapse_lines: int = 30
    step_summary: bool = True
    dvc: bool = False  # dvc.yaml's metrics, params and plots (vs base_ref when given)
    dvc_root: Path = Path(".")
    tensorboard: list[Path] = field(default_factory=list)  # log directories
    launches: list[Path] = field(default_factory=list)  # --json of exec / runner launch


def _png_name(kind: str, source: Path, taken: set[str]) -> str:
    """``plot-loss.png``; a second ``loss`` series from another directory gets ``-2``."""
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in source.stem)
    name, n = f"{kind}-{stem}.png", 1
    while name in taken:
        n += 1
        name = f"{kind}-{stem}-{n}.png"
    taken.add(name)
    return name


def _tables(request: BuildRequest) -> list[MetricsTable]:
    tables = []
    for i, path in enumerate(request.metrics):
        current = load_metrics(path)
        base, source, missing = None, "", ""
        if request.base_metrics:
            base, source = load_metrics(request.base_metrics[i]), str(request.base_metrics[i])
        elif request.base_ref:
            base = load_base_metrics(path, request.base_ref)
            source = f"{request.base_ref}:{path.as_posix()}" if base is not None else ""
            missing = f"not in `{request.base_ref}` yet" if base is None else ""
        tables.append(MetricsTable(str(path), compare(current, base), source, missing))
    return tables


def build_report(request: BuildRequest, env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Build and write the report; returns its structure (what ``--json`` prints)."""
    from cmlinfra.report.plots import confusion_plot, line_plot, load_confusion, load_series

    out = request.out
    if out.is_dir():
        raise CmlinfraError(f"--out {out} is a directory", "give a file name such as report.md")
    for image in request.images:
        if not image.is_file():
            raise CmlinfraError(f"image {image} does not exist", "check the path")
    report = Report(title=request.title, metrics=_tables(request))
    sections = [section_from_file(p, request.collapse_lines, out.parent) for p in request.sections]
    if request.launches:
        from cmlinfra.report.launch import section as launch_section

        sections = [launch_section(p) for p in request.launches] + sections
    series = [(p, load_series(p)) for p in request.plots]  # read everything before drawing
    matrices = [(p, load_confusion(p)) for p in request.confusions]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CmlinfraError(f"cannot create {out.parent}: {exc.strerror}", "check --out") from None
    taken: set[str] = set()
    for path, data in series:
        png = line_plot(data, out.parent / _png_name("plot", path, taken), title=path.stem)
        report.images.append(Image(png, path.stem))
    for path, matrix in matrices:
        png = confusion_plot(matrix, out.parent / _png_name("confusion", path, taken))
        report.images.append(Image(png, f"confusion matrix ({path.stem})"))
    if request.dvc:
        from cmlinfra.report.dvc import collect

        dvc_tables, dvc_images = collect(request.dvc_root, request.base_ref, out.parent, taken)
        report.metrics.extend(dvc_tables)
        report.images.extend(dvc_images)
    for logdir in request.tensorboard:
        from cmlinfra.report import tensorboard

        curves = tensorboard.load(logdir)
        report.metrics.append(tensorboard.table(curves, logdir))
        report.images.extend(tensorboard.plots(curves, out.parent, taken))
    report.images.extend(Image(p, p.stem) for p in request.images)
    report.sections.extend(sections)
    markdown = render(report, out.parent)
    try:
        out.write_text(markdown, encoding="utf-8")
    except OSError as exc:
        raise CmlinfraError(f"cannot write {out}: {exc.strerror}", "check --out") from None
    summary_path = write_step_summary(markdown, env) if request.step_summary else None
    size = len(markdown)
    line = (
        f"wrote {out} ({sum(len(t.rows) for t in report.metrics)} metrics, "
        f"{len(report.images)} images, {len(report.sections)} sections; {size:,} characters)"
    )
    if size > GITHUB_COMMENT_LIMIT:
        line += (
            f"; longer than a GitHub comment ({GITHUB_COMMENT_LIMIT:,}): it will be cut at a "
            "section boundary when posted"
        )
    return {
        "out": str(out),
        "title": report.title,
        "characters": size,
        "metrics": titled_tables(report.metrics),
        "images": [{"path": str(i.path), "caption": i.caption} for i in report.images],
        "sections": [{"title": s.title, "collapsed": s.collapsed} for s in report.sections],
        "step_summary": str(summary_path) if summary_path else None,
        "summary": line,
    }
