"""What every cloud's first-boot script shares: the max-TTL rule and how the script is
rendered.

Each public cloud renders its own first-boot script (user data, startup script, custom data)
from a Jinja2 template in its package, so that what will run on the machine is visible in the
plan and testable without a cloud. The lifetime rule (default 24 h, at least 10 minutes,
rounded up to whole minutes) and the rendering environment are the same everywhere and live
here; each cloud adds its own upper limit and its own name rule.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from typing import Any

from cmlinfra.errors import UsageError

DEFAULT_MAX_TTL_SECONDS = 24 * 3600
MIN_MAX_TTL_SECONDS = 10 * 60
LIB = "/usr/local/lib/cmlinfra"  # where the scripts put their helpers on the machine


@cache
def template_env(package: str) -> Any:
    """A strict Jinja2 environment over ``package``'s ``templates`` folder: an unset value is
    an error, never an empty string in a shell script; ``shquote`` quotes for the shell."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader(package, "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # shell scripts, not HTML; every value is validated or quoted
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    return env


def max_ttl(seconds: int | None) -> int:
    """The hard lifetime in seconds (default 24 h), rounded up to whole minutes."""
    value = DEFAULT_MAX_TTL_SECONDS if seconds is None else int(seconds)
    if value < MIN_MAX_TTL_SECONDS:
        raise UsageError(
            f"max TTL of {value} s is too short for a runner to boot and work",
            f"give --max-ttl of at least {MIN_MAX_TTL_SECONDS // 60}m",
        )
    return -(-value // 60) * 60


def check_expiry(expires_at: str) -> None:
    """The expiry time goes into the script unquoted: only RFC 3339 characters may."""
    if not re.fullmatch(r"[0-9T:+\-Z]*", expires_at):
        raise ValueError(f"expires_at {expires_at!r} is not an RFC 3339 time")
