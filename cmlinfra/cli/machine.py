"""The machine a command creates (``runner launch``, ``exec``): CML's ``--cloud-*`` options and
the checked request built from them, shared so both commands take the same spellings."""

from __future__ import annotations

from typing import Any

import typer

from cmlinfra.cli.clouds import cloud_option, creating_cloud_help
from cmlinfra.cli.common import (
    CLOUD_LIST_HELP,
    MAX_TTL_HELP,
    REGION_HELP,
    SPOT_HELP,
    SPOT_PRICE_HELP,
    TYPE_HELP,
    allow_world_ssh_option,
    ssh_cidr_option,
)

STATE_HELP = (
    "The runner registry: a directory or s3://bucket/prefix?region=… shared by parallel CI jobs "
    "(default: ~/.local/state/cmlinfra/runners)."
)


def machine_options() -> dict[str, object]:
    """CML's --cloud-* options, fresh OptionInfo objects per command (each gets its own
    CML_<GROUP>_* variable)."""
    return {
        "cloud": cloud_option(f"{creating_cloud_help()} {CLOUD_LIST_HELP}"),
        # runner launch only: no --cloud registers this machine (CML's on-premise runner)
        "cloud_type": typer.Option("m", "--cloud-type", help=TYPE_HELP),
        "cloud_gpu": typer.Option("", "--cloud-gpu", help="nogpu, or a GPU model (t4, a10g…)."),
        "cloud_region": typer.Option("", "--cloud-region", help=REGION_HELP),
        "cloud_hdd_size": typer.Option(None, "--cloud-hdd-size", help="Root disk in GB."),
        # a value is optional: cli/cml.py turns a bare --cloud-spot into --cloud-spot=true
        "cloud_spot": typer.Option("", "--cloud-spot", metavar="[auto]", help=SPOT_HELP),
        "cloud_spot_price": typer.Option("", "--cloud-spot-price", help=SPOT_PRICE_HELP),
        "cloud_image": typer.Option("", "--cloud-image", help="Image (AMI, LXD alias)."),
        "cloud_permission_set": typer.Option(
            "", "--cloud-permission-set", help="AWS instance profile ARN for the machine."
        ),
        "cloud_metadata": typer.Option(
            [], "--cloud-metadata", help="key=value tag on the machine (repeatable)."
        ),
        "max_ttl": typer.Option("", "--max-ttl", help=MAX_TTL_HELP),
        "ssh_cidr": ssh_cidr_option(),
        "allow_world_ssh": allow_world_ssh_option(),
        "state": typer.Option("", "--state", help=STATE_HELP),
        "name": typer.Option("", "--name", help="Runner and machine name (default cml-<random>)."),
    }


def build_request(values: dict[str, object], command: str) -> Any:
    """The machine request of ``runner launch`` / ``exec`` (``command``), checked; its region
    and type may still be comma-separated lists (:func:`build_candidates` splits them)."""
    from cmlinfra.cli.clouds import cloud_option_values
    from cmlinfra.clouds import cloud_info
    from cmlinfra.errors import UsageError
    from cmlinfra.stack.candidates import parse_list, spot_choices
    from cmlinfra.stack.request import build_request as build

    for cloud in parse_list(str(values["cloud"]), "--cloud"):
        if not cloud_info(cloud).capabilities.creates_machines:  # no --host/--host-key here
            raise UsageError(
                f"{command} creates its machine; --cloud {cloud} is for a machine you already have",
                "bootstrap it with 'cmlinfra bootstrap HOST', or create its stack with "
                f"'cmlinfra stack apply --cloud {cloud} --host HOST --host-key KEY'",
            )
    return build(
        name=str(values["name"]) or None,
        cloud_type=str(values["cloud_type"]),
        gpu=str(values["cloud_gpu"]) or None,
        region=str(values["cloud_region"]) or None,
        hdd_size=values["cloud_hdd_size"],  # type: ignore[arg-type]
        spot=any(spot_choices(str(values["cloud_spot"] or ""))),
        spot_price=str(values["cloud_spot_price"]) or None,
        image=str(values["cloud_image"]) or None,
        permission_set=str(values["cloud_permission_set"]) or None,
        metadata=list(values["cloud_metadata"]),  # type: ignore[call-overload]
        max_ttl=str(values["max_ttl"]) or None,
        ssh_cidr=str(values["ssh_cidr"] or "") or None,
        allow_world_ssh=bool(values["allow_world_ssh"]),
        options=cloud_option_values(values.get("cloud_options") or {}),  # type: ignore[arg-type]
    )
