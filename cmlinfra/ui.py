"""Where output goes: results to stdout (text or ``--json``), progress and logs to stderr.

Keeping progress on stderr means ``cmlinfra ... --json | jq`` always works, and CI logs still
show every long step as it happens.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import Any

from cmlinfra.secrets import RedactingFilter, redact

log = logging.getLogger("cmlinfra")

LEVELS = ("error", "warn", "info", "debug")


def configure_logging(level: str) -> None:
    """Plain ``level: message`` lines on stderr; secrets redacted by the handler's filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("cmlinfra")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel({"warn": logging.WARNING}.get(level, getattr(logging, level.upper(), 20)))


def progress(message: str) -> None:
    """One progress line for a long step (stderr, redacted)."""
    log.info(redact(message))


@contextmanager
def timed(step: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Log the start and duration of a step; optionally record it in ``timings``."""
    from cmlinfra.trace import span

    progress(f"{step}…")
    start = time.monotonic()
    try:
        with span(step):
            yield
    finally:
        elapsed = time.monotonic() - start
        if timings is not None:
            timings[step] = timings.get(step, 0.0) + elapsed
        log.debug("%s took %.1fs", step, elapsed)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


def emit(result: Any, *, as_json: bool, text: str | None = None) -> None:
    """Print a command's result: JSON when asked for, else ``text`` (or ``str(result)``)."""
    if as_json:
        sys.stdout.write(
            redact(json.dumps(result, default=_plain, indent=2, sort_keys=True)) + "\n"
        )
    else:
        sys.stdout.write(redact(text if text is not None else str(result)).rstrip("\n") + "\n")
