"""Options and helpers shared by command modules."""

from __future__ import annotations

from dataclasses import dataclass

import typer


@dataclass(frozen=True)
class Settings:
    """Global options given before the command (``cmlinfra --json --log debug runner ...``)."""

    as_json: bool = False
    log_level: str = "info"


def settings(ctx: typer.Context) -> Settings:
    """The global settings of this invocation (defaults when called outside the root app)."""
    root = ctx.find_root()
    obj = root.obj
    return obj if isinstance(obj, Settings) else Settings()


def parse_key_values(pairs: list[str], option: str) -> dict[str, str]:
    """``["k=v", ...]`` → dict, with a one-line error naming the option for malformed items."""
    from cmlinfra.errors import UsageError

    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {pair!r} is not key=value", f"write it as {option} team=ml")
        result[key.strip()] = value
    return result
