"""The runner's startup script: arms self-delete on power-off and the max-TTL; no secret.

Rendered here (Jinja2) and handed to Terraform as instance metadata, so the script that will
run is visible in the plan and testable without a cloud: the tests render it, run shellcheck
on it, and run it and its self-delete against a local metadata server and the Compute fake.
"""

from __future__ import annotations

import re
from typing import Any

from cmlinfra.clouds import firstboot
from cmlinfra.clouds.firstboot import LIB
from cmlinfra.errors import UsageError

MAX_MAX_TTL_SECONDS = 120 * 24 * 3600  # max_run_duration's limit
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")


def _template() -> Any:
    return firstboot.template_env("cmlinfra.clouds.gcp").get_template("startup.sh.j2")


def max_ttl(seconds: int | None) -> int:
    """The hard lifetime in seconds (default 24 h), rounded up to whole minutes, within what
    Compute Engine's max run duration allows (checked before rounding: the error quotes what
    the user gave)."""
    value = firstboot.DEFAULT_MAX_TTL_SECONDS if seconds is None else int(seconds)
    if value > MAX_MAX_TTL_SECONDS:
        raise UsageError(
            f"max TTL of {value} s is longer than Compute Engine's 120-day max run duration",
            "give --max-ttl of at most 120d",
        )
    return firstboot.max_ttl(value)


def render(name: str, max_ttl_seconds: int, expires_at: str, ssh_port: int = 22) -> str:
    """The startup script. Only validated, non-secret values go in."""
    if not _NAME.match(name):
        raise UsageError(f"runner name {name!r} is not usable on Google Cloud", "use a-z, 0-9, -")
    firstboot.check_expiry(expires_at)
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
