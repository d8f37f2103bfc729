"""The runner's custom data: arms the hard max-TTL power-off and makes every power-off delete
the machine's resource group (Azure bills a stopped VM); carries no secret.

Rendered here (Jinja2) and handed to Terraform as a plain variable, so what will run is
visible in the plan and testable without a cloud: the tests run shellcheck on both scripts,
and run the end-of-machine script with real curl against the local ARM fake.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from cmlinfra.clouds import firstboot
from cmlinfra.clouds.firstboot import LIB, max_ttl
from cmlinfra.errors import UsageError

IMDS = "http://169.254.169.254"
ARM = "https://management.azure.com"
GROUP_DELETE_API = "2024-03-01"  # Microsoft.Resources, ResourceGroups_Delete
CUSTOM_DATA_LIMIT = 65535 * 3 // 4  # Azure: 64 KiB once base64-encoded
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]\Z")


def _env() -> Any:
    return firstboot.template_env("cmlinfra.clouds.azure")


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
    firstboot.check_expiry(expires_at)
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
