"""How every public cloud reads CML's machine vocabulary, offline.

CML spells a machine the same way on every cloud: ``--cloud-type`` is a size (``s``, ``m``,
``l``, ``xl``), optionally ``+GPU``, or the cloud's own raw type; ``--cloud-gpu`` names a GPU
too, and the two must not disagree. Only the tables (which size and GPU map to which type, the
GPU names, the regions) are cloud-specific and stay in ``cmlinfra/clouds/<name>/catalog.py``;
the parsing and its one-line errors live here so that a fix to how a typo is reported, or to
how ``m+t4`` and ``--cloud-gpu v100`` conflict, reaches every cloud at once.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from importlib import resources
from typing import Any, TypeVar

from cmlinfra.errors import UsageError

SIZES = ("s", "m", "l", "xl")  # CML's sizes, the same on every cloud
GPU_ALIASES: dict[str, str | None] = {"tesla": "v100", "nogpu": None, "none": None, "": None}
DEFAULT_REGION = "us-west"  # CML's default --cloud-region
DEFAULT_HDD_GB = 35  # CML's default --cloud-hdd-size

T = TypeVar("T")


def load_json(package: str, path: str) -> dict[str, Any]:
    """A committed data file of a cloud package (price and size snapshots, name lists)."""
    return json.loads(resources.files(package).joinpath(path).read_text())


def suggest(value: str, choices: Iterable[str]) -> str:
    """``did you mean 'xl'? `` for the closest choice, or nothing: the start of an error's fix."""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def normalize_gpu(
    gpu: str | None, gpus: Collection[str], aliases: Mapping[str, str | None] = GPU_ALIASES
) -> str | None:
    """``--cloud-gpu`` value → one of ``gpus``, None (``nogpu``), or a one-line UsageError."""
    if gpu is None:
        return None
    key = gpu.strip().lower()
    if key in aliases:
        return aliases[key]
    if key not in gpus:
        raise UsageError(
            f"unknown GPU {gpu!r}",
            f"{suggest(key, gpus)}choose one of {', '.join(gpus)} or nogpu",
        )
    return key


def split_type(
    text: str,
    cloud_type: str,
    gpu: str | None,
    wanted_gpu: str | None,
    normalize: Callable[[str | None], str | None],
) -> tuple[str, bool, str | None]:
    """Lower-cased ``--cloud-type`` text → (size or raw type, whether it had ``+GPU``, the GPU
    asked for). ``wanted_gpu`` is ``--cloud-gpu`` already normalized; a ``+GPU`` that names
    another one is refused, since CML would silently pick one of them."""
    size, plus, type_gpu = text.partition("+")
    if plus:
        from_type = normalize(type_gpu)
        if wanted_gpu is not None and wanted_gpu != from_type:
            raise UsageError(
                f"--cloud-type {cloud_type} and --cloud-gpu {gpu} disagree",
                "give the GPU in one place only",
            )
        wanted_gpu = from_type
    return size, bool(plus), wanted_gpu


def sized_type(
    size: str, gpu: str | None, types: Mapping[tuple[str, str | None], T], cloud: str, raw: str
) -> T:
    """The table entry for a CML size and GPU, or an error listing the sizes that have that GPU
    (``cloud`` names the cloud, ``raw`` what its raw types are called)."""
    entry = types.get((size, gpu))
    if entry is None:
        sizes = [s for s in SIZES if (s, gpu) in types]
        raise UsageError(
            f"size {size!r} has no {gpu} GPU on {cloud}",
            f"use {' or '.join(f'{s}+{gpu}' for s in sizes)}, or a {raw}",
        )
    return entry


def unknown_type(cloud_type: str, size: str, gpus: Iterable[str], tail: str) -> UsageError:
    """The error for a ``--cloud-type`` that is neither a CML size nor a raw type of the cloud
    (``tail`` ends the fix: `` or an EC2 instance type such as g5.2xlarge``)."""
    return UsageError(
        f"unknown --cloud-type {cloud_type!r}",
        f"{suggest(size, SIZES)}use s, m, l or xl (optionally +{'/+'.join(gpus)}){tail}",
    )


def resolve_region(
    value: str,
    region: str | None,
    aliases: Mapping[str, str],
    known: frozenset[str],
    what: str,
    example: str,
) -> str:
    """A CML region alias or the cloud's own region name → that name, if ``known`` has it;
    else an error that suggests the closest (``what``: ``AWS region``; ``example``: the fix's
    tail, ``an AWS region such as eu-central-1``)."""
    value = aliases.get(value, value)
    if value not in known:
        raise UsageError(
            f"unknown {what} {region!r}",
            f"{suggest(value, sorted(known | set(aliases)))}"
            f"use one of {', '.join(aliases)} or {example}",
        )
    return value


def hdd_size(size_gb: int | None, minimum: int, maximum: int, context: str = "") -> int:
    """``--cloud-hdd-size`` in GB: CML's default 35 (never below ``minimum``, what the cloud or
    the image needs) or the given size, if the cloud's disks allow it (``context`` ends the
    problem: `` for this image``)."""
    if size_gb is None:
        return max(DEFAULT_HDD_GB, minimum)
    if not minimum <= size_gb <= maximum:
        raise UsageError(
            f"--cloud-hdd-size {size_gb} is out of range{context}",
            f"give {minimum} to {maximum} (GB)",
        )
    return size_gb
