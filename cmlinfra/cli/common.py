"""Options and helpers shared by command modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer


@dataclass(frozen=True)
class Settings:
    """Global options given before the command (``cmlinfra --json --log debug runner ...``)."""

    as_json: bool = False
    log_level: str = "info"


def settings(ctx: typer.Context) -> Settings:
    """The global settings of this invocation (defaults when called outside the root app)."""
    root = ctx.find_root()
    obj = root.obj
    return obj if isinstance(obj, Settings) else Settings()


def parse_key_values(pairs: list[str], option: str) -> dict[str, str]:
    """``["k=v", ...]`` → dict, with a one-line error naming the option for malformed items."""
    from cmlinfra.errors import UsageError

    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {pair!r} is not key=value", f"write it as {option} team=ml")
        result[key.strip()] = value
    return result


MAX_TTL_HELP = (
    "Hard lifetime (3600, 90m, 2h, 1d) after which the machine powers itself off, even if "
    "cmlinfra crashed. Default: none on LXD and SSH, 24h on AWS (an AWS machine always has "
    "one); 0 means the default."
)


def ssh_cidr_option(world_flag: bool = True) -> Any:
    """``--ssh-cidr``, one definition for every command that creates a machine (``stack``,
    ``runner launch``, ``exec``, ``image bake``); a fresh OptionInfo per call, because each
    command gets its own ``CML_<GROUP>_SSH_CIDR`` variable. ``world_flag``: the command also
    has ``--allow-world-ssh``."""
    wider = " unless --allow-world-ssh" if world_flag else ""
    return typer.Option(
        None,
        "--ssh-cidr",
        help="AWS: who may reach the machine's SSH, as a CIDR (203.0.113.7/32); default: this "
        "machine's public address only. Needed where that address cannot be found. A range "
        f"wider than a /16 of public addresses (/48 for IPv6) is refused{wider}.",
    )


def allow_world_ssh_option() -> Any:
    """``--allow-world-ssh``: the explicit opt-in to SSH from anywhere (see docs/security.md);
    a fresh OptionInfo per call, like :func:`ssh_cidr_option`."""
    return typer.Option(
        False,
        "--allow-world-ssh",
        help="AWS: open the machine's SSH port to every address (0.0.0.0/0 and ::/0), and "
        "accept a --ssh-cidr wider than a /16. Off by default: SSH admits the launcher only.",
    )


# the failover's list options (docs/failover.md), one wording for runner launch, exec and stack
CLOUD_LIST_HELP = (
    "Several, comma-separated (aws,gcp), are tried in turn when one has no capacity or quota "
    "(docs/failover.md)."
)
TYPE_HELP = (
    "Size (m, l, xl) or the cloud's own type; several, comma-separated (m+t4,m+a10g), are "
    "candidates tried cheapest first."
)
REGION_HELP = (
    "Region (the cloud's default); several, comma-separated (us-west,us-east), or 'any' (the "
    "cloud's list): when one has no capacity or quota the next is tried, cheapest first. On "
    "lxd: 'local' or an LXD project."
)
SPOT_HELP = (
    "Spot/preemptible machine. Alone (CML's flag) or 'true': spot only; 'auto': spot first, "
    "then on-demand if no spot machine can be had."
)
SPOT_PRICE_HELP = (
    "Max spot price in USD/hour (-1: the on-demand price); with --cloud-spot auto it also caps "
    "what an on-demand candidate may cost."
)
