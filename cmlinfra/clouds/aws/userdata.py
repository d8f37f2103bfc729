"""The runner's first-boot script: arms the hard max-TTL power-off; carries no secret.

Rendered here in Python (Jinja2) and handed to Terraform as a plain variable, so the script
that will run is visible in the plan and testable without a cloud: the tests render it, run
shellcheck on it and execute it with shims for the commands that would power this machine off.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from cmlinfra.clouds.validate import duration
from cmlinfra.errors import UsageError

DEFAULT_MAX_TTL_SECONDS = 24 * 3600
MIN_MAX_TTL_SECONDS = 10 * 60
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")


@cache
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("cmlinfra.clouds.aws", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # a shell script, not HTML; every value is validated below
    )
    return env.get_template("user_data.sh.j2")


def max_ttl(seconds: int | None) -> int:
    """The hard lifetime in seconds (default 24 h), rounded up to whole minutes."""
    value = DEFAULT_MAX_TTL_SECONDS if seconds is None else int(seconds)
    duration(value, "--max-ttl")  # user-data's timer and the expiry tag: at most 30 days
    if value < MIN_MAX_TTL_SECONDS:
        raise UsageError(
            f"max TTL of {value} s is too short for a runner to boot and work",
            f"give --max-ttl of at least {MIN_MAX_TTL_SECONDS // 60}m",
        )
    return -(-value // 60) * 60


def render(name: str, max_ttl_seconds: int, expires_at: str, ssh_port: int = 22) -> str:
    """The user-data script. Only validated, non-secret values go in."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"runner name {name!r} is not usable on AWS", "use letters, digits, -")
    if not re.fullmatch(r"[0-9T:+\-Z]*", expires_at):
        raise ValueError(f"expires_at {expires_at!r} is not an RFC 3339 time")
    seconds = max_ttl(max_ttl_seconds)
    return str(
        _template().render(
            name=name,
            max_ttl_seconds=seconds,
            max_ttl_minutes=seconds // 60,
            expires_at=expires_at,
            ssh_port=int(ssh_port),
        )
    )
