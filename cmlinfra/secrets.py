"""Keeping tokens, JIT configs and private keys out of logs and output.

A :class:`Secret` prints as ``***`` wherever it ends up by accident (f-strings, ``repr`` in a
traceback, a log record). The value is only reachable through :meth:`Secret.reveal`, which makes
every place that needs the real value easy to find in review. Revealed values are also remembered
by :class:`RedactingFilter`, the last line of defence on every log handler.
"""

from __future__ import annotations

import logging
import threading

_MASK = "***"


class _Registry:
    """Values that must never be printed. Process-wide on purpose: a log record can come from
    anywhere, so the filter cannot rely on being handed the secrets of one call."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= 6:  # shorter strings would mask ordinary words
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, _MASK)
        return text


REGISTRY = _Registry()


class Secret:
    """A string that refuses to be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        REGISTRY.add(value)

    def reveal(self) -> str:
        """The real value: only for the wire (HTTP header, SFTP write), never for output."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return _MASK


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    return REGISTRY.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites log records so that no registered secret reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
