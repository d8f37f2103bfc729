"""Composing the report a pull request shows: title, metrics tables, plots, extra sections.

The report is plain GitHub-flavoured markdown that also renders on GitLab and Bitbucket.
Images are linked by paths relative to the report file, the form ``comment create --publish``
rewrites into uploaded URLs. Long text goes into a collapsed ``<details>`` so the comment stays
readable, and in GitHub Actions the report is also appended to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import html
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.limits import fit_to_limit
from cmlinfra.report.links import images_to_alt_text, repoint_images
from cmlinfra.report.metrics import MetricRow, metrics_table

COLLAPSE_LINES = 30  # sections longer than this are collapsed
STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub's limit per step, in bytes
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")


@dataclass(frozen=True)
class MetricsTable:
    source: str  # the metrics file as given
    rows: list[MetricRow]
    base: str = ""  # where the base values came from ("main:metrics.json", a file), or ""
    no_base: str = ""  # why there is no comparison ("not in `main` yet"), or ""


@dataclass(frozen=True)
class Image:
    path: Path
    caption: str


@dataclass(frozen=True)
class Section:
    title: str
    body: str  # markdown
    collapsed: bool = False


@dataclass
class Report:
    title: str = "Report"
    metrics: list[MetricsTable] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def code_block(text: str, language: str = "") -> str:
    """A fenced block that cannot be closed early by backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def collapsible(summary: str, body: str, open_: bool = False) -> str:
    """``body`` inside ``<details>``; blank lines around it so its markdown still renders."""
    attr = " open" if open_ else ""
    return (
        f"<details{attr}>\n<summary>{html.escape(summary)}</summary>\n\n"
        f"{body.strip()}\n\n</details>"
    )


def image_link(path: Path, caption: str, relative_to: Path) -> str:
    """``![caption](relative/path.png)``, relative to the report's directory."""
    rel = Path(os.path.relpath(path.resolve(), relative_to.resolve())).as_posix()
    alt = caption.replace("[", "(").replace("]", ")")
    return f"![{alt}]({quote(rel)})"


def section_from_file(
    path: Path, collapse_lines: int = COLLAPSE_LINES, out_dir: Path | None = None
) -> Section:
    """A section from a file: markdown as written (its first heading becomes the title), other
    text (logs) as a code block; long ones collapsed. A markdown file's relative image links
    are re-pointed to ``out_dir`` (where the report is written) so they still find the files."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CmlinfraError(f"section file {path} does not exist", "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CmlinfraError(f"cannot read section file {path}: {exc}", "give a text file") from None
    title = path.stem.replace("_", " ").replace("-", " ").capitalize()
    if path.suffix.lower() in (".md", ".markdown"):
        first, _, rest = text.lstrip("\n").partition("\n")
        match = _HEADING.match(first)
        if match:
            title, text = match.group(2), rest
        body = text.strip()
        if out_dir is not None:
            body = repoint_images(body, path.parent, out_dir)
    else:
        body = code_block(text)
    return Section(title, body, collapsed=body.count("\n") + 1 > collapse_lines)


def render(report: Report, out_dir: Path) -> str:
    """The report's markdown; image paths relative to ``out_dir`` (where it is written)."""
    parts = [f"## {report.title}"]
    if report.metrics:
        parts.append("### Metrics")
        for table in report.metrics:
            if len(report.metrics) > 1 or table.base or table.no_base:
                against = f", compared with `{table.base}`" if table.base else ""
                against += f" ({table.no_base})" if table.no_base else ""
                parts.append(f"From `{table.source}`{against}.")
            parts.append(metrics_table(table.rows))
    if report.images:
        parts.append("### Plots")
        parts += [image_link(i.path, i.caption, out_dir) for i in report.images]
    for section in report.sections:
        if section.collapsed:
            parts.append(collapsible(section.title, section.body))
        else:
            parts += [f"### {section.title}", section.body]
    return "\n\n".join(p for p in parts if p.strip()) + "\n"


def write_step_summary(markdown: str, env: Mapping[str, str] = os.environ) -> Path | None:
    """Append the report to ``$GITHUB_STEP_SUMMARY`` (the job's summary page) when it is set,
    cut to what is left of GitHub's 1 MiB per step.

    Local images become their alt text and a note: the summary page cannot show files from
    the runner. A full summary is a warning, not a failure: the report itself is written."""
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    markdown = images_to_alt_text(markdown)
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    room = STEP_SUMMARY_LIMIT - used - 2  # bytes left, less a separating and a final newline
    chars, text = room, markdown
    while len(text.encode()) > room and chars >= 1000:  # fit_to_limit counts characters:
        text = fit_to_limit(markdown, chars, "The full report is in the job's artifacts.")
        size = len(text.encode())
        chars = min(chars - 1, chars * room // size) if size > room else chars  # bytes fit too
    if len(text.encode()) > room:
        logging.getLogger("cmlinfra").warning(
            "warning: not added to $GITHUB_STEP_SUMMARY (%s): it is full (GitHub allows 1 MiB "
            "per step); write the report in a step of its own",
            path,
        )
        return None
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if used else "") + text.rstrip("\n") + "\n")
    except OSError as exc:
        raise CmlinfraError(
            f"cannot write $GITHUB_STEP_SUMMARY ({path}): {exc.strerror}", "check the variable"
        ) from None
    return path


def titled_tables(tables: Sequence[MetricsTable]) -> list[dict[str, object]]:
    """The metrics part of ``--json`` output."""
    return [
        {
            "source": t.source,
            "base": t.base or None,
            "rows": [
                {
                    "name": r.name,
                    "value": r.value,
                    "base": r.base,
                    "delta": r.delta,
                    "status": r.status or None,
                }
                for r in t.rows
            ],
        }
        for t in tables
    ]
