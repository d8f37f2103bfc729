#!/usr/bin/env python3
"""Run every ``benchmarks/bench_*.py`` (or those named) and write docs/benchmarks.md.

Usage: ``python benchmarks/run.py [topic ...]`` — ``make bench`` runs them all; naming topics
rewrites only their sections and keeps the others as they were.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Section  # noqa: E402


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.machine()}, {cpus} CPUs{mem}, Python {platform.python_version()}"


def header() -> str:
    return "\n".join(
        [
            "# Benchmarks",
            "",
            f"Machine: {machine()}. Written by `make bench` on {time.strftime('%Y-%m-%d')}.",
            "Each section names the command that reproduces it alone (which rewrites only that",
            "section).",
        ]
    )


def render_section(section: Section) -> str:
    lines = [f"## {section.title}", "", f"`{section.command}`", ""]
    lines += ["| metric | value | goal | note |", "|---|---|---|---|"]
    for row in section.rows:
        value = str(row.value)
        if isinstance(row.value, float):  # 3 significant digits, no exponent for ≥ 1000
            value = f"{row.value:.0f}" if abs(row.value) >= 1000 else f"{row.value:.3g}"
        lines.append(f"| {row.metric} | {value} {row.unit} | {row.goal} | {row.note} |")
    return "\n".join([*lines, "", *section.notes]).rstrip()


def merge(existing: str, fresh: dict[str, str]) -> list[str]:
    """The sections of ``existing`` (split at ``## `` headings) with those in ``fresh``
    (title -> text) replaced in place; new titles go last."""
    old = {}
    for chunk in existing.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0].strip()
        old[title] = "## " + chunk.rstrip()
    merged = [fresh.get(title, text) for title, text in old.items()]
    return merged + [text for title, text in fresh.items() if title not in old]


def main(topics: list[str]) -> None:
    names = topics or sorted(p.stem[len("bench_") :] for p in ROOT.glob("benchmarks/bench_*.py"))
    fresh = {}
    for name in names:
        print(f"bench: {name}", file=sys.stderr)
        section = importlib.import_module(f"benchmarks.bench_{name}").run()
        fresh[section.title] = render_section(section)
    out = ROOT / "docs" / "benchmarks.md"
    sections = list(fresh.values())
    if topics and out.exists():
        sections = merge(out.read_text(), fresh)
    out.write_text("\n\n".join([header(), *sections]) + "\n")
    print(f"bench: wrote {out.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
