"""The runner's startup script: arms self-delete on power-off and the max-TTL; no secret.

Rendered here (Jinja2) and handed to Terraform as instance metadata, so the script that will
run is visible in the plan and testable without a cloud: the tests render it, run shellcheck
on it, and run it and its self-delete against a local metadata server and the Compute fake.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from cmlinfra.errors import UsageError

DEFAULT_MAX_TTL_SECONDS = 24 * 3600
MIN_MAX_TTL_SECONDS = 10 * 60
MAX_MAX_TTL_SECONDS = 120 * 24 * 3600  # max_run_duration's limit
LIB = "/usr/local/lib/cmlinfra"
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")


@cache
def _template() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("cmlinfra.clouds.gcp", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # a shell script, not HTML; every value is validated below
    )
    return env.get_template("startup.sh.j2")


def max_ttl(seconds: int | None) -> int:
    """The hard lifetime in seconds (default 24 h), rounded up to whole minutes."""
    value = DEFAULT_MAX_TTL_SECONDS if seconds is None else int(seconds)
    if value < MIN_MAX_TTL_SECONDS:
        raise UsageError(
            f"max TTL of {value} s is too short for a runner to boot and work",
            f"give --max-ttl of at least {MIN_MAX_TTL_SECONDS // 60}m",
        )
    if value > MAX_MAX_TTL_SECONDS:
        raise UsageError(
            f"max TTL of {value} s is longer than Compute Engine's 120-day max run duration",
            "give --max-ttl of at most 120d",
        )
    return -(-value // 60) * 60


def render(name: str, max_ttl_seconds: int, expires_at: str, ssh_port: int = 22) -> str:
    """The startup script. Only validated, non-secret values go in."""
    if not _NAME.match(name):
        raise UsageError(f"runner name {name!r} is not usable on Google Cloud", "use a-z, 0-9, -")
    if not re.fullmatch(r"[0-9T:+\-Z]*", expires_at):
        raise ValueError(f"expires_at {expires_at!r} is not an RFC 3339 time")
    seconds = max_ttl(max_ttl_seconds)
    return str(
        _template().render(
            name=name,
            lib=LIB,
            max_ttl_minutes=seconds // 60,
            expires_at=expires_at,
            ssh_port=int(ssh_port),
        )
    )
