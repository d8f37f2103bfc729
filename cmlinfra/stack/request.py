"""CML's ``--cloud-*`` option values → a :class:`MachineRequest`, with one-line errors.

Shared by ``cmlinfra stack`` and ``cmlinfra runner launch`` so both accept exactly the same
spellings (CML's ``--cloud-spot-price -1``, ``--max-ttl 2h``…). Stdlib only: safe to import
from a CLI module.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from cmlinfra.clouds.base import MachineRequest
from cmlinfra.errors import UsageError

_DURATION = re.compile(r"\s*(\d{1,12})\s*([smhd]?)\s*")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def default_name() -> str:
    """CML-style ``cml-<random>`` when ``--name`` is not given."""
    return f"cml-{secrets.token_hex(4)}"


def parse_duration(value: str | None, option: str = "--max-ttl") -> int | None:
    """``3600``, ``90m``, ``2h``, ``1d`` → seconds; empty or ``0`` → None."""
    if value is None or value.strip() in ("", "0"):
        return None
    match = _DURATION.fullmatch(value)
    if not match:
        raise UsageError(f"{option} {value!r} is not a duration", f"write it as {option} 2h")
    from cmlinfra.clouds.validate import duration

    return duration(int(match.group(1)) * _UNITS[match.group(2)], option)


def parse_spot_price(value: str | None, spot: bool) -> float | None:
    """CML's ``--cloud-spot-price``: ``-1`` (or empty) means the on-demand price as the cap."""
    if value is None or value.strip() in ("", "-1"):
        return None
    try:
        price = float(value)
    except ValueError:
        price = float("nan")
    if not price > 0 or price == float("inf"):
        raise UsageError(
            f"--cloud-spot-price {value!r} is not a price",
            "give USD per hour, e.g. --cloud-spot-price 0.35 (or -1 for the on-demand price)",
        )
    if not spot:
        raise UsageError("--cloud-spot-price needs --cloud-spot", "add --cloud-spot")
    return price


def parse_cidr(value: str | None, *, allow_world: bool = False) -> str | None:
    """``--ssh-cidr``, parsed and checked by the validator every cloud shares."""
    from cmlinfra.clouds.validate import ssh_cidr

    return ssh_cidr(value, allow_world=allow_world) if value else None


def parse_metadata(pairs: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--cloud-metadata {pair!r} is not key=value",
                "write it as --cloud-metadata team=ml",
            )
        result[key.strip()] = value
    return result


def build_request(
    *,
    name: str | None,
    cloud_type: str = "m",
    gpu: str | None = None,
    region: str | None = None,
    hdd_size: int | None = None,
    spot: bool = False,
    spot_price: str | None = None,
    image: str | None = None,
    permission_set: str | None = None,
    metadata: list[str] | None = None,
    ssh_cidr: str | None = None,
    allow_world_ssh: bool = False,
    max_ttl: str | None = None,
    host: str | None = None,
    port: int = 22,
    user: str | None = None,
    host_key: str | None = None,
    options: dict[str, str | None] | None = None,
) -> MachineRequest:
    """Every option parsed and range-checked; cloud-specific checks come in ``Cloud.resolve``."""
    if hdd_size is not None and hdd_size <= 0:
        raise UsageError(f"--cloud-hdd-size {hdd_size} is not a size", "give GB, e.g. 50")
    return MachineRequest(
        name=name or default_name(),
        cloud_type=cloud_type,
        gpu=gpu or None,
        region=region or None,
        hdd_size_gb=hdd_size,
        spot=spot,
        spot_price=parse_spot_price(spot_price, spot),
        image=image or None,
        permission_set=permission_set or None,
        metadata=parse_metadata(metadata or []),
        ssh_cidr=parse_cidr(ssh_cidr, allow_world=allow_world_ssh),
        allow_world_ssh=allow_world_ssh,
        max_ttl_seconds=parse_duration(max_ttl),
        host=host or None,
        port=port,
        user=user or None,
        host_key=host_key or None,
        # the cloud's own options (--cloud-aws-subnet …), by flag; the ones not given dropped
        options={k: v.strip() for k, v in (options or {}).items() if v and v.strip()},
    )


def key_file(value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageError(f"--ssh-key-file {value} does not exist", "give a private key file")
    return path
