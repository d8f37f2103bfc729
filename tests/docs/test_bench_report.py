"""benchmarks/run.py: rerunning one topic rewrites its section of docs/benchmarks.md only."""

from __future__ import annotations

from benchmarks.common import Row, Section
from benchmarks.run import merge, render_section

EXISTING = """# Benchmarks

Machine: x.

## A

`python benchmarks/run.py a`

old a

## B

`python benchmarks/run.py b`

old b
"""


def test_a_rerun_topic_replaces_its_section_in_place_and_keeps_the_others() -> None:
    fresh = Section("A", "python benchmarks/run.py a", rows=[Row("m", 1.5, "s", goal="< 2")])
    merged = merge(EXISTING, {"A": render_section(fresh), "C": "## C\n\nnew c"})
    assert [text.splitlines()[0] for text in merged] == ["## A", "## B", "## C"]
    assert "| m | 1.5 s | < 2 |  |" in merged[0] and "old a" not in merged[0]
    assert merged[1].endswith("old b")
