"""Checks every cloud shares: names, labels, prices — one-line errors before anything exists."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest
    from cmlinfra.clouds.info import CloudInfo

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def stack_name(name: str) -> str:
    """A stack name doubles as a hostname and a container name: DNS label rules."""
    if not _NAME.match(name or ""):
        raise UsageError(
            f"stack name {name!r} is not a valid hostname",
            "use 2-63 lowercase letters, digits and dashes, starting with a letter (--name)",
        )
    return name


def labels(metadata: dict[str, str]) -> dict[str, str]:
    """``--cloud-metadata`` pairs that every cloud can store as tags/labels."""
    for key, value in metadata.items():
        if not _LABEL_KEY.match(key) or key.lower().startswith("cmlinfra."):
            raise UsageError(
                f"--cloud-metadata key {key!r} is not a valid label",
                "use letters, digits, '_', '.', '-' (at most 63, not starting with 'cmlinfra.')",
            )
        if len(value) > 255 or any(c in value for c in "\r\n\0"):
            raise UsageError(
                f"--cloud-metadata value for {key!r} is not a valid label value",
                "use a single line of at most 255 characters",
            )
    return metadata


def unsupported(cloud: str, option: str, given: object) -> None:
    """Reject an option a cloud cannot honour, instead of silently ignoring it."""
    if given not in (None, False, "", {}):
        raise UsageError(f"{option} is not supported by the {cloud} cloud", f"drop {option}")


def cloud_options(request: MachineRequest, chosen: CloudInfo) -> None:
    """Only the chosen cloud's own options: another cloud's is refused, naming that cloud."""
    from cmlinfra.clouds import option_owner

    mine = {flag for option in chosen.options for flag in (option.flag, *option.aliases)}
    for flag in request.options:
        if flag in mine:
            continue
        owner = option_owner(flag)
        if owner is None:
            raise UsageError(f"{flag} is not a cloud option", f"drop {flag}")
        title = owner[0].title
        vowel = title[:1] in "AEIOU" or (title.isupper() and title[:1] in "FHLMNRSX")  # "an LXD"
        article = "an" if vowel else "a"
        raise UsageError(
            f"{flag} is {article} {title} option, not one of --cloud {chosen.name}",
            f"drop {flag}, or launch with --cloud {owner[0].name}",
        )
