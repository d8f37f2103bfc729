"""What every benchmark returns, and how results are measured.

A benchmark module is ``benchmarks/bench_<topic>.py`` with ``run() -> Section``. ``run.py``
collects the sections into docs/benchmarks.md together with the machine and the command.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Row:
    metric: str
    value: float | str
    unit: str = ""
    goal: str = ""
    note: str = ""


@dataclass
class Section:
    title: str
    command: str  # how to reproduce this section alone
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def median_seconds(fn: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of ``fn`` over ``runs`` calls."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
