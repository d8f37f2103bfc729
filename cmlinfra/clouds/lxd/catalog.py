"""The lxd cloud's catalog: CML's sizes as container limits, and the host's own GPUs.

CML's sizes on the public clouds are big (m = 8 vCPU); a local container shares the host, so
the same names map to modest limits. A GPU is only offered when LXD reports one on this host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmlinfra.errors import UsageError


@dataclass(frozen=True)
class Size:
    cpu: int
    memory_gib: int


SIZES: dict[str, Size] = {"m": Size(2, 4), "l": Size(4, 8), "xl": Size(8, 16)}
REGIONS = ("local",)
DEFAULT_IMAGE = "cmlinfra-debian-12"
NO_GPU = {"", "nogpu", "none"}


def size(name: str) -> Size:
    if name not in SIZES:
        raise UsageError(
            f"unknown size {name!r} for the lxd cloud",
            f"use --cloud-type with one of: {', '.join(SIZES)}",
        )
    return SIZES[name]


def region(name: str | None) -> str:
    """``local`` (LXD's default project) or the name of an LXD project (``projects.py``)."""
    from cmlinfra.clouds.lxd.projects import region as project_region

    return project_region(name)


def _describe(card: dict[str, Any]) -> str:
    return f"{card.get('vendor', '?')} {card.get('product', '?')} ({card.get('pci_address', '?')})"


def gpu(name: str | None, cards: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The host card matching ``--cloud-gpu`` (``any``, a vendor or a model substring such as
    ``h100``), or None for no GPU."""
    if name is None or name.lower() in NO_GPU:
        return None
    if not cards:
        raise UsageError(
            f"--cloud-gpu {name} was asked for but this LXD host has no GPU",
            "drop --cloud-gpu, or use a cloud or host with a GPU",
        )
    wanted = name.lower()
    for card in cards:
        text = f"{card.get('vendor', '')} {card.get('product', '')}".lower()
        if wanted == "any" or wanted in text:
            return card
    raise UsageError(
        f"no GPU on this LXD host matches --cloud-gpu {name}",
        "use --cloud-gpu any, or one of: " + "; ".join(_describe(c) for c in cards),
    )
