"""An opt-in timeline of one command, for finding where a slow launch spends its time.

``CMLINFRA_TRACE=FILE`` makes every span below append one JSON line to FILE: each terraform
process, each timed stage (``apply``, ``ssh wait``…), each bootstrap step and root script, the
wait for the machine's address. Nothing is written without the variable, and a span carries
only names and durations (never a command line, a value or a secret), so a trace is safe to
attach to a bug report. ``benchmarks/bench_lifecycle.py`` builds its breakdown from it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENV_VAR = "CMLINFRA_TRACE"
_write = threading.Lock()


@contextmanager
def span(name: str, **fields: str | int | float) -> Iterator[None]:
    """Time the block and, when tracing, append ``{"span", "start", "seconds", "ok"…}``."""
    path = os.environ.get(ENV_VAR)
    if not path:
        yield
        return
    start, begun, ok = time.time(), time.perf_counter(), False
    try:
        yield
        ok = True
    finally:
        record = {
            "span": name,
            "start": round(start, 4),
            "seconds": round(time.perf_counter() - begun, 4),
            "ok": ok,
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
            **fields,
        }
        with _write, open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
