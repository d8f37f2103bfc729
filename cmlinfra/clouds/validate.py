"""Checks every cloud shares: names, labels, who may reach SSH — one-line errors before
anything exists. Every pattern is matched whole (``fullmatch``): ``$`` would accept a trailing
newline, which then breaks a hostname, a tag or a line of a file further down."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest
    from cmlinfra.clouds.info import CloudInfo


_NAME = re.compile(r"[a-z][a-z0-9-]{0,61}[a-z0-9]")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")

# The widest SSH source range of *public* addresses accepted without --allow-world-ssh: a /16
# (65,536 IPv4 addresses, a large organization's block) and, for IPv6, a /48 (one site's
# allocation; an ISP hands out /48s and /56s). Private ranges (RFC 1918, CGNAT, unique local)
# reach no one outside the network, so they may be wider.
WIDEST_PUBLIC_PREFIX = {4: 16, 6: 48}
PRIVATE_RANGES = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10", "192.168.0.0/16", "fc00::/7")
)
# The longest duration cmlinfra accepts (--max-ttl, --idle-timeout): 30 days. The watchdog
# counts seconds in bash (64-bit) arithmetic and the clouds' timers in seconds or minutes; an
# unbounded value overflowed there and silently disabled the power-off. A CI machine that must
# live longer than a month is better started again.
MAX_DURATION_SECONDS = 30 * 86400


def duration(seconds: int, option: str) -> int:
    """``seconds`` if it is at most :data:`MAX_DURATION_SECONDS`; a one-line error otherwise."""
    if seconds > MAX_DURATION_SECONDS:
        raise UsageError(
            f"{option} of {seconds} s is longer than cmlinfra's limit of 30 days",
            f"give at most {option} 30d",
        )
    return seconds


WORLD_FIX = (
    "give the launcher's own range (default: its public address /32), or pass "
    "--allow-world-ssh to open SSH to everyone on purpose"
)


def wide_open(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """True when ``network`` admits more public addresses than a /16 (IPv4) or /48 (IPv6)."""
    if network.prefixlen >= WIDEST_PUBLIC_PREFIX[network.version]:
        return False
    return not any(
        network.version == private.version and network.subnet_of(private)  # type: ignore[arg-type]
        for private in PRIVATE_RANGES
    )


def ssh_cidr(
    value: str, *, allow_world: bool = False, option: str = "--ssh-cidr", fix: str = WORLD_FIX
) -> str:
    """Who may reach a machine's SSH, as a canonical CIDR (host bits cleared). Parsed, never
    compared as text: ``0.0.0.0/1``, ``0.0.0.0/00`` and ``::0/0`` are the world too. A range
    wider than a /16 of public addresses needs ``allow_world``; an IPv4-mapped IPv6 range
    (``::ffff:0:0/96``) is refused: write IPv4 as IPv4."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not a CIDR block", "write it like 203.0.113.7/32"
        ) from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(
        ipaddress.IPv6Network("::ffff:0:0/96")
    ):
        raise UsageError(
            f"{option} {value} is an IPv4-mapped IPv6 range", "write the IPv4 range itself"
        )
    if wide_open(network) and not allow_world:
        reach = (
            "the whole internet"
            if network.prefixlen == 0
            else f"more public addresses than a /{WIDEST_PUBLIC_PREFIX[network.version]}"
        )
        given = value.strip()
        shown = given if given == str(network) else f"{given} ({network})"
        raise UsageError(f"{option} {shown} opens SSH to {reach}", fix)
    return str(network)


def stack_name(name: str) -> str:
    """A stack name doubles as a hostname and a container name: DNS label rules."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"stack name {name!r} is not a valid hostname",
            "use 2-63 lowercase letters, digits and dashes, starting with a letter (--name)",
        )
    return name


def labels(metadata: dict[str, str]) -> dict[str, str]:
    """``--cloud-metadata`` pairs that every cloud can store as tags/labels."""
    for key, value in metadata.items():
        if not _LABEL_KEY.fullmatch(key) or key.lower().startswith("cmlinfra."):
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
