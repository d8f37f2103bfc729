"""What every benchmark returns, and how results are measured.

A benchmark module is ``benchmarks/bench_<topic>.py`` with ``run() -> Section``. ``run.py``
collects the sections into docs/benchmarks.md together with the machine and the command.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


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


def _hwm_kib(pid: str) -> int:
    """VmHWM (the resident-set high-water mark) of one process, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: str) -> list[str]:
    """Direct children of ``pid``, from /proc (Linux only, like VmHWM)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in field 2 may contain spaces/parens: the ppid follows the last ")".
        if stat.rsplit(")", 1)[1].split()[1] == pid:
            found.append(entry.name)
    return found


def peak_rss_mib(pid: int | None = None) -> float:
    """Peak memory of a process tree: the VmHWM of ``pid`` (default: this process) plus that of
    every live descendant, in MiB.

    Call it from inside the measured process just before it exits, while jsii's node child is
    still alive: a parent's ``ru_maxrss`` only sees the largest single child, not their sum.
    Stdlib only, so the prebuilt-bindings venv can import it with this checkout on PYTHONPATH.
    """
    todo, total = [str(pid or os.getpid())], 0
    while todo:
        current = todo.pop()
        total += _hwm_kib(current)
        todo += _children(current)
    return total / 1024
