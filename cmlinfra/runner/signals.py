"""CI cancellation: SIGTERM (GitHub/GitLab cancelling a job) and SIGINT become an exception in
the main thread, so every ``except``/``finally`` that tears down runs; during the teardown
itself further signals are ignored, so a second cancellation cannot leave half a machine."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Cancelled(BaseException):
    """The launcher was asked to stop (a BaseException: ``except Exception`` must not eat it)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"cancelled by {signal.Signals(signum).name}")


_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def exit_code(exc: BaseException) -> int | None:
    """The shell's exit code for a cancellation (128 + the signal: 143 for a CI job's SIGTERM,
    130 for Ctrl-C), so CI shows the step as cancelled rather than failed; None otherwise."""
    if isinstance(exc, Cancelled):
        return 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    return None


@contextmanager
def cancellable() -> Iterator[None]:
    """Inside: a signal raises :class:`Cancelled` (once)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        for sig in _SIGNALS:  # the next one waits for the teardown instead
            signal.signal(sig, signal.SIG_IGN)
        raise Cancelled(signum)

    previous: list[Any] = [signal.signal(sig, handler) for sig in _SIGNALS]
    try:
        yield
    finally:
        for sig, old in zip(_SIGNALS, previous, strict=True):
            signal.signal(sig, old)


@contextmanager
def shielded() -> Iterator[None]:
    """Inside: signals are ignored (the teardown must finish)."""
    previous: list[Any] = [signal.signal(sig, signal.SIG_IGN) for sig in _SIGNALS]
    try:
        yield
    finally:
        for sig, old in zip(_SIGNALS, previous, strict=True):
            signal.signal(sig, old)
