"""The runner's first-boot script: arms the hard max-TTL power-off; carries no secret.

Rendered here in Python (Jinja2) and handed to Terraform as a plain variable, so the script
that will run is visible in the plan and testable without a cloud: the tests render it, run
shellcheck on it and execute it with shims for the commands that would power this machine off.
"""

from __future__ import annotations

import re
from typing import Any

from cmlinfra.clouds import firstboot
from cmlinfra.clouds.firstboot import DEFAULT_MAX_TTL_SECONDS
from cmlinfra.clouds.validate import duration
from cmlinfra.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")


def _template() -> Any:
    return firstboot.template_env("cmlinfra.clouds.aws").get_template("user_data.sh.j2")


def max_ttl(seconds: int | None) -> int:
    """The hard lifetime in seconds (default 24 h), rounded up to whole minutes."""
    value = DEFAULT_MAX_TTL_SECONDS if seconds is None else int(seconds)
    duration(value, "--max-ttl")  # user-data's timer and the expiry tag: at most 30 days
    return firstboot.max_ttl(value)


def render(name: str, max_ttl_seconds: int, expires_at: str, ssh_port: int = 22) -> str:
    """The user-data script. Only validated, non-secret values go in."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"runner name {name!r} is not usable on AWS", "use letters, digits, -")
    firstboot.check_expiry(expires_at)
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
