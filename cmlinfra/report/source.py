"""Reading a markdown report that is about to be posted (comment, check run).

Forges take UTF-8 only, and an empty report would post a bare watermark, so both are refused
up front with a one-line error instead of a traceback or a blank comment.
"""

from __future__ import annotations

from pathlib import Path

from cmlinfra.errors import CmlinfraError, UsageError


def decode_report(raw: bytes, path: Path) -> str:
    """``raw`` as text; a one-line error naming the first bad byte when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CmlinfraError(
            f"{path} is not UTF-8 (byte {raw[exc.start]:#04x} on line {line})",
            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def read_report(path: Path, fix: str = "write the report before posting it") -> tuple[bytes, str]:
    """The report's bytes and text; refuses a missing, non-UTF-8 or empty file."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist", fix)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CmlinfraError(f"cannot read {path}: {exc.strerror}", "check the file") from None
    text = decode_report(raw, path)
    if not text.strip():
        raise UsageError(f"{path} is empty", "write the report before posting it")
    return raw, text
