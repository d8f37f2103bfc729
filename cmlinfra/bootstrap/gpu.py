"""Typed GPU facts from ``nvidia-smi`` output, both forms a host may give us.

``--query-gpu=... --format=csv`` is what the bootstrap scripts print (stable, one line per GPU);
``-q -x`` is the full XML report, which carries what the query interface lacks on older drivers
(CUDA version, PCI ids). Values nvidia-smi cannot report (``N/A`` and the messages, bracketed or
not: ``[Not Supported]``, ``[Function Not Found]``, ``Requested functionality has been
deprecated``, …) become ``None`` rather than strings that look like data.

The formats were checked against real captures from drivers 418 to 610 (tests/bootstrap/
fixtures/nvidia-smi/SOURCE.md) and are tested on our own captures from an H200 (driver 580,
``real-h200/``): the CSV header may come in any order, a log may hold other CSV blocks after the
GPU rows (``--query-compute-apps``), the XML may be preceded by a warning line, and
``minor_number`` is the ``/dev/nvidiaN`` number — not the index, which follows the report's
order.

Standard library only: ``scripts/gpu-check.sh`` imports this module from a bare checkout on a
GPU machine, with none of cmlinfra's dependencies installed.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

_FIELD = re.compile(r"[a-z][a-z0-9_.]*(?: \[[^\]]*\])?")


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


# nvidia-smi's messages in place of a value; usually bracketed, but the H200's driver 580
# writes display_mode as a bare "Requested functionality has been deprecated".
_MESSAGES = {
    "n/a",
    "not supported",
    "requested functionality has been deprecated",
    "function not found",
    "insufficient permissions",
    "unknown error",
    "gpu is lost",
}


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    bracketed = text.startswith("[") and text.endswith("]")
    missing = not text or bracketed or text.lower() in _MESSAGES
    return None if missing else text


def _mib(text: str | None) -> int | None:
    value = _value(text)
    match = re.fullmatch(r"(\d+)(?:\s*MiB)?", value or "")
    return int(match.group(1)) if match else None


def _header(name: str) -> str:
    """``memory.total [MiB]`` → ``memory.total``."""
    return re.sub(r"\s*\[.*\]$", "", name.strip())


def _cells(line: str) -> list[str]:
    """The CSV cells of one line of step output; ``[]`` for a line that is no CSV at all
    (progress bars redraw with a carriage return, which the csv module refuses)."""
    try:
        return [cell.strip() for cell in next(csv.reader([line], skipinitialspace=True), [])]
    except csv.Error:
        return []


def _is_header(line: str) -> bool:
    """A ``--query-*`` header: every cell a field name (``memory.total [MiB]``)."""
    cells = _cells(line)
    return bool(cells) and all(_FIELD.fullmatch(c) for c in cells)


def _is_gpu_header(line: str) -> bool:
    return _is_header(line) and "name" in (_header(c) for c in _cells(line))


def find_query_csv(lines: list[str]) -> list[str]:
    """The first GPU query block (header + its rows) inside a step's output, or ``[]``.

    The block ends at the first line that is not a row of the same width, or is another
    header, so a following ``--query-compute-apps`` block or a second query is not mistaken
    for more GPUs."""
    for i, line in enumerate(lines):
        if _is_gpu_header(line):
            width, block = len(_cells(line)), [line]
            for row in lines[i + 1 :]:
                if not row.strip() or len(_cells(row)) != width or _is_header(row):
                    break
                block.append(row)
            return block
    return []


def parse_query_csv(text: str) -> list[Gpu]:
    """Rows of ``nvidia-smi --query-gpu=...,name,... --format=csv[,nounits]`` (header
    required; columns in any order, unknown columns ignored).

    Raises ValueError for ``noheader`` output: without the header the first GPU would be read
    as one, and the rest mislabelled."""
    rows = list(csv.reader(io.StringIO(text.strip()), skipinitialspace=True))
    if not rows:
        return []
    if not _is_gpu_header(",".join(rows[0])):
        raise ValueError(
            f"not nvidia-smi --query-gpu CSV with a header: {','.join(rows[0])[:80]!r} "
            "(query with --format=csv, not csv,noheader)"
        )
    names = [_header(h) for h in rows[0]]
    gpus: list[Gpu] = []
    for row in rows[1:]:
        if not row:
            continue
        cells: dict[str, str] = {}
        for name, cell in zip(names, row, strict=False):
            cells.setdefault(name, cell.strip())  # a repeated column: the first one counts
        index = _value(cells.get("index"))
        gpus.append(
            Gpu(
                index=int(index) if index and index.isdigit() else len(gpus),
                name=_value(cells.get("name")) or "unknown",
                uuid=_value(cells.get("uuid")),
                driver_version=_value(cells.get("driver_version")),
                memory_mib=_mib(cells.get("memory.total")),
                compute_capability=_value(cells.get("compute_cap")),
                pci_bus_id=_value(cells.get("pci.bus_id")),
            )
        )
    return gpus


def parse_smi_xml(text: str) -> GpuReport:
    """``nvidia-smi -q -x`` → driver, CUDA version and one :class:`Gpu` per ``<gpu>``.

    Anything before the XML (a driver warning on stdout) is ignored. The report has no compute
    capability on any driver; the CSV query carries it."""
    start = min(
        (i for i in (text.find("<?xml"), text.find("<nvidia_smi_log")) if i >= 0), default=0
    )
    root = ET.fromstring(text[start:].strip())
    driver = _value(root.findtext("driver_version"))
    gpus = [
        Gpu(
            index=position,  # nvidia-smi's index is the report's order, not minor_number
            name=_value(gpu.findtext("product_name")) or "unknown",
            uuid=_value(gpu.findtext("uuid")),
            driver_version=driver,
            memory_mib=_mib(gpu.findtext("fb_memory_usage/total")),
            pci_bus_id=_value(gpu.findtext("pci/pci_bus_id")) or gpu.get("id"),
        )
        for position, gpu in enumerate(root.findall("gpu"))
    ]
    return GpuReport(tuple(gpus), driver, _value(root.findtext("cuda_version")))


# What both forms carry for every GPU (the XML has no compute capability; the query asked for
# no PCI bus id).
SHARED_FIELDS = ("name", "uuid", "driver_version", "memory_mib")


def disagreements(csv_gpus: list[Gpu], report: GpuReport) -> list[str]:
    """Where the CSV query and the ``-q -x`` report of the same machine differ: the number of
    GPUs, and per GPU (by position) each of :data:`SHARED_FIELDS`, including one form lacking a
    value the other has. ``[]`` when they agree."""
    if len(csv_gpus) != len(report.gpus):
        return [f"the CSV lists {len(csv_gpus)} GPU(s), the XML {len(report.gpus)}"]
    problems = []
    for row, gpu in zip(csv_gpus, report.gpus, strict=True):
        for name in SHARED_FIELDS:
            a, b = getattr(row, name), getattr(gpu, name)
            if a != b:
                problems.append(f"GPU {row.index} {name}: CSV {a!r}, XML {b!r}")
    drivers = {g.driver_version for g in csv_gpus}
    if csv_gpus and drivers != {report.driver_version}:
        problems.append(f"driver: CSV {sorted(map(str, drivers))}, XML {report.driver_version!r}")
    return problems
