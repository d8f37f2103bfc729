"""Typed GPU facts from ``nvidia-smi`` output, both forms a host may give us.

``--query-gpu=... --format=csv`` is what the bootstrap scripts print (stable, one line per GPU);
``-q -x`` is the full XML report, which carries what the query interface lacks on older drivers
(CUDA version, PCI ids). Values nvidia-smi cannot report (``[N/A]``, ``[Not Supported]``) become
``None`` rather than strings that look like data.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_MISSING = {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]"}


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    uuid: str | None = None
    driver_version: str | None = None
    memory_mib: int | None = None
    compute_capability: str | None = None
    pci_bus_id: str | None = None


@dataclass(frozen=True)
class GpuReport:
    gpus: tuple[Gpu, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return None if text.lower() in _MISSING else text


def _mib(text: str | None) -> int | None:
    value = _value(text)
    match = re.fullmatch(r"(\d+)(?:\s*MiB)?", value or "")
    return int(match.group(1)) if match else None


def _header(name: str) -> str:
    """``memory.total [MiB]`` → ``memory.total``."""
    return re.sub(r"\s*\[.*\]$", "", name.strip())


def find_query_csv(lines: list[str]) -> list[str]:
    """The CSV block (header + rows) inside a step's output, or ``[]``."""
    for i, line in enumerate(lines):
        if line.replace(" ", "").startswith("index,name"):
            block = [line]
            block += [row for row in lines[i + 1 :] if re.match(r"^\d+,", row.strip())]
            return block
    return []


def parse_query_csv(text: str) -> list[Gpu]:
    """Rows of ``nvidia-smi --query-gpu=index,name,... --format=csv[,nounits]`` (header
    required; columns in any order, unknown columns ignored)."""
    rows = list(csv.reader(io.StringIO(text.strip()), skipinitialspace=True))
    if not rows:
        return []
    names = [_header(h) for h in rows[0]]
    gpus: list[Gpu] = []
    for row in rows[1:]:
        if not row:
            continue
        cells = dict(zip(names, (c.strip() for c in row), strict=False))
        gpus.append(
            Gpu(
                index=int(cells.get("index", len(gpus))),
                name=cells.get("name", "unknown"),
                uuid=_value(cells.get("uuid")),
                driver_version=_value(cells.get("driver_version")),
                memory_mib=_mib(cells.get("memory.total")),
                compute_capability=_value(cells.get("compute_cap")),
                pci_bus_id=_value(cells.get("pci.bus_id")),
            )
        )
    return gpus


def parse_smi_xml(text: str) -> GpuReport:
    """``nvidia-smi -q -x`` → driver, CUDA version and one :class:`Gpu` per ``<gpu>``."""
    root = ET.fromstring(text.strip())
    driver = _value(root.findtext("driver_version"))
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        minor = _value(gpu.findtext("minor_number"))
        gpus.append(
            Gpu(
                index=int(minor) if minor and minor.isdigit() else index,
                name=_value(gpu.findtext("product_name")) or "unknown",
                uuid=_value(gpu.findtext("uuid")),
                driver_version=driver,
                memory_mib=_mib(gpu.findtext("fb_memory_usage/total")),
                pci_bus_id=_value(gpu.findtext("pci/pci_bus_id")) or gpu.get("id"),
            )
        )
    return GpuReport(tuple(gpus), driver, _value(root.findtext("cuda_version")))
