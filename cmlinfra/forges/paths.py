"""Path components of forge API URLs: each one checked for what it is, then encoded.

A value that ends up in a URL path (a commit SHA from ``--commit-sha``, a PR or issue number
from ``--target``, a run id from ``workflow rerun --id``, a runner id from the shared registry,
a comment id from the forge) is checked here, where the driver builds the URL, whatever parsed
it before. ``commit/../..`` would otherwise send a token-authenticated request outside
``/repos/OWNER/REPO``. :func:`segment` encodes what has no stricter shape, and the HTTP client
refuses any path that still holds a dot segment (:func:`check_path`).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from cmlinfra.errors import UsageError

_SHA = re.compile(r"[0-9a-fA-F]{4,64}")
_NUMBER = re.compile(r"[1-9][0-9]{0,18}")
_UUID = re.compile(r"\{?[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}?")
_DISCUSSION = re.compile(r"[0-9a-fA-F]{1,64}")


def _refuse(what: str, value: str, shape: str) -> UsageError:
    return UsageError(f"{what} {value!r} is not {shape}", f"give {shape}")


def sha(value: str, what: str = "commit") -> str:
    """A commit SHA (4 to 64 hex digits: abbreviated, SHA-1 or SHA-256)."""
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise _refuse(what, str(value), "a commit SHA (hex digits)")
    return value.lower()


def number(value: str | int, what: str) -> str:
    """A positive decimal number (a PR/issue number, a numeric id), ASCII digits only."""
    text = str(value)
    if isinstance(value, bool) or not _NUMBER.fullmatch(text):
        raise _refuse(what, text, "a positive number")
    return text


def uuid(value: str, what: str) -> str:
    """A UUID, braced as Bitbucket writes them (``{…}``), percent-encoded for the path."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise _refuse(what, str(value), "a UUID")
    return quote(value, safe="")


def discussion(value: str) -> str:
    """A GitLab discussion id (hex)."""
    if not isinstance(value, str) or not _DISCUSSION.fullmatch(value):
        raise _refuse("discussion", str(value), "a GitLab discussion id")
    return value


def segment(value: str, what: str) -> str:
    """Any other single path segment, percent-encoded (``/`` included)."""
    if not value or value in (".", ".."):
        raise _refuse(what, value, "a name")
    return quote(value, safe="")


def ref_path(value: str, what: str = "branch") -> str:
    """A git branch name as a multi-segment path (``heads/feature/x``), checked with git's own
    rules for ref names (``git check-ref-format``): no ``..``, no empty or dot-led component,
    no control or special characters; then each component encoded."""
    parts = value.split("/")
    bad = (
        not value
        or ".." in value
        or "@{" in value
        or value == "@"
        or value.endswith((".lock", "."))
        or any(not part or part.startswith(".") for part in parts)
        or any(ord(c) < 0x20 or c in " ~^:?*[\\\x7f" for c in value)
    )
    if bad:
        raise _refuse(what, value, "a valid git branch name")
    return "/".join(quote(part, safe="") for part in parts)


def check_path(path: str) -> None:
    """Refuse a request path that holds a dot segment (``..`` or ``.``, also percent-encoded):
    the last check before a token leaves, whatever built the path."""
    route = path.split("?", 1)[0].split("#", 1)[0]
    for part in route.split("/"):
        # a %2F-encoded slash is a separator to some servers and proxies: look inside too
        if any(piece in (".", "..") for piece in unquote(part).split("/")):
            raise UsageError(
                f"refusing to send a request to {route!r}: it leaves the API path it names",
                "check the ids and names given on the command line",
            )
