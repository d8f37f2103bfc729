"""SSH host keys of a Compute Engine instance, from a Google-authenticated channel.

First choice: the guest attributes the guest environment publishes (``hostkeys/ssh-ed25519``
→ the key's base64 blob; ``enable-guest-attributes`` is set by the gpu-runner module), read
with ``instances.getGuestAttributes``. Fallback: the serial port output, where cloud-init
prints its ``SSH HOST KEY KEYS`` block, read with ``instances.getSerialPortOutput``. Both go
through the Compute API with the launcher's credentials, so the first SSH connection verifies
the host instead of trusting whatever answers (never trust-on-first-use).
"""

from __future__ import annotations

import re

from cmlinfra.clouds.gcp.errors import gcp_errors, not_found
from cmlinfra.clouds.gcp.lookups import Session
from cmlinfra.clouds.shared import poll_api
from cmlinfra.errors import CmlinfraError

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "ssh-rsa")  # fmt: skip
BLOB = re.compile(r"^[A-Za-z0-9+/]+=*\Z")
CONSOLE_BLOCK = re.compile(
    r"-----BEGIN SSH HOST KEY KEYS-----(.*?)-----END SSH HOST KEY KEYS-----", re.S
)
KEY_LINE = re.compile(r"((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+=*)")


def keys_from_guest_attributes(items: list[dict[str, str]]) -> tuple[str, ...]:
    """``hostkeys/`` entries → OpenSSH public key lines (strongest type first)."""
    found = {}
    for item in items:
        key_type, value = item.get("key", ""), item.get("value", "").strip()
        if item.get("namespace", "hostkeys") != "hostkeys" or key_type not in KEY_TYPES:
            continue
        blob = value.split()[-1] if " " in value else value
        if BLOB.match(blob):
            found[key_type] = f"{key_type} {blob}"
    return tuple(found[t] for t in KEY_TYPES if t in found)


def keys_from_serial(text: str) -> tuple[str, ...]:
    """Host public keys from the last ``SSH HOST KEY KEYS`` block cloud-init printed."""
    blocks = CONSOLE_BLOCK.findall(text.replace("\r", ""))
    if not blocks:
        return ()
    return tuple(m.group(1) for line in blocks[-1].splitlines() if (m := KEY_LINE.search(line)))


def _guest_attributes(s: Session, project: str, zone: str, name: str) -> tuple[str, ...]:
    try:
        with gcp_errors(f"reading the guest attributes of {name}", project):
            call = s.compute.instances().getGuestAttributes(
                project=project, zone=zone, instance=name, queryPath="hostkeys/"
            )
            answer = call.execute()
    except CmlinfraError as exc:
        if not_found(exc):  # the guest agent has not published them yet
            return ()
        raise
    return keys_from_guest_attributes(answer.get("queryValue", {}).get("items", []))


def _serial(s: Session, project: str, zone: str, name: str) -> tuple[str, ...]:
    with gcp_errors(f"reading the serial port output of {name}", project):
        answer = (
            s.compute.instances()
            .getSerialPortOutput(project=project, zone=zone, instance=name, port=1)
            .execute()
        )
    return keys_from_serial(answer.get("contents", ""))


def host_keys(
    s: Session, project: str, zone: str, name: str, wait_s: float
) -> tuple[tuple[str, ...], str]:
    """Poll both channels until one has the keys or ``wait_s`` passes: (keys, channel)."""

    def read() -> tuple[tuple[str, ...], str] | None:
        keys = _guest_attributes(s, project, zone, name)
        if keys:
            return keys, "guest attributes"
        keys = _serial(s, project, zone, name)
        return (keys, "serial port output") if keys else None

    return poll_api(read, wait_s) or ((), "")
