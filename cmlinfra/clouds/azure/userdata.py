"""The runner's custom data: arms the hard max-TTL power-off and makes every power-off delete
the machine's resource group (Azure bills a stopped VM); carries no secret.

Rendered here (Jinja2) and handed to Terraform as a plain variable, so what will run is
visible in the plan and testable without a cloud: the tests run shellcheck on both scripts,
and run the end-of-machine script with real curl against the local ARM fake.
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from typing import Any

from cmlinfra.errors import UsageError

DEFAULT_MAX_TTL_SECONDS = 24 * 3600
MIN_MAX_TTL_SECONDS = 10 * 60
LIB = "/usr/local/lib/cmlinfra"
IMDS = "http://169.254.169.254"
ARM = "https://management.azure.com"
GROUP_DELETE_API = "2024-03-01"  # Microsoft.Resources, ResourceGroups_Delete
CUSTOM_DATA_LIMIT = 65535 * 3 // 4  # Azure: 64 KiB once base64-encoded
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]\Z")


@cache
def _env() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("cmlinfra.clouds.azure", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # shell scripts; every value is validated or quoted
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


def end_script(imds: str = IMDS, arm: str = ARM) -> str:
    """The script that deletes the VM's own resource group (tests point it at fakes)."""
    return str(
        _env()
        .get_template("end_machine.sh.j2")
        .render(imds=imds.rstrip("/"), arm=arm.rstrip("/"), api_version=GROUP_DELETE_API)
    )


def render(
    name: str, max_ttl_seconds: int, expires_at: str, ssh_port: int = 22, root: str = ""
) -> str:
    """The custom data script. Only validated, non-secret values go in. ``root`` prefixes the
    files it writes (tests run it on this machine)."""
    if not _NAME.match(name):
        raise UsageError(f"runner name {name!r} is not usable on Azure", "use a-z, 0-9 and -")
    if not re.fullmatch(r"[0-9T:+\-Z]*", expires_at):
        raise ValueError(f"expires_at {expires_at!r} is not an RFC 3339 time")
    seconds = max_ttl(max_ttl_seconds)
    text = str(
        _env()
        .get_template("custom_data.sh.j2")
        .render(
            name=name,
            root=shlex.quote(root) if root else "",
            lib=LIB,
            end_script=end_script().rstrip("\n"),
            max_ttl_seconds=seconds,
            max_ttl_minutes=seconds // 60,
            expires_at=expires_at,
            ssh_port=int(ssh_port),
        )
    )
    if len(text.encode()) > CUSTOM_DATA_LIMIT:
        raise ValueError("the custom data is larger than Azure accepts")
    return text
