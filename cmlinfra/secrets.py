"""Keeping tokens, JIT configs and private keys out of logs and output.

A :class:`Secret` prints as ``***`` wherever it ends up by accident (f-strings, ``repr`` in a
traceback, a log record). The value is only reachable through :meth:`Secret.reveal`, which makes
every place that needs the real value easy to find in review. Revealed values are also remembered
by :class:`RedactingFilter`, the last line of defence on every log handler, and by the CLI's
one-line error.

Secrets of 6 characters or more are replaced wherever they appear. Shorter ones (a test token,
a mistyped one) are replaced where they stand as a word of their own — between characters
that are not letters or digits, or at either end — so ``token abc`` becomes ``token ***``
while ``abc`` inside ``abcdef`` stays: a short value masked inside every word would make
output unreadable. None is ever printed whole, whatever its length.

Child processes get :func:`scrubbed_environment`: the forge and CI job tokens a CI job's
environment holds are removed, for Terraform and its providers and for the Node.js processes
of the stack synthesis alike.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping

_MASK = "***"
SHORT = 6  # below this length a secret is only masked as a word of its own

# Forge and CI job credentials in a CI job's environment. No child process cmlinfra starts
# needs them (Terraform, its providers, jsii's Node.js); one that logs or crashes with its
# environment must not be able to leak a token. Superset of
# cmlinfra.forges.tokens.TOKEN_VARS (a test keeps it so).
FORGE_TOKEN_VARIABLES = frozenset(
    {
        "REPO_TOKEN",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
        "CI_JOB_JWT",
        "CI_JOB_JWT_V1",
        "CI_JOB_JWT_V2",
        "BITBUCKET_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    }
)


def scrubbed_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) without the forge and CI job tokens: the
    environment of every child process that has no use for them."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if k not in FORGE_TOKEN_VARIABLES}


class _Registry:
    """Values that must never be printed. Process-wide on purpose: a log record can come from
    anywhere, so the filter cannot rely on being handed the secrets of one call."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._short: re.Pattern[str] | None = None  # the short ones, as whole words
        self._short_values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if not value:
            return
        with self._lock:
            if len(value) >= SHORT:
                self._values.add(value)
            elif value not in self._short_values:
                self._short_values.add(value)
                words = "|".join(map(re.escape, sorted(self._short_values, key=len)[::-1]))
                self._short = re.compile(f"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])")

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
            short = self._short
        for value in values:
            if value in text:
                text = text.replace(value, _MASK)
        return short.sub(_MASK, text) if short is not None else text


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
