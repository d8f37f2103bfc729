"""The verdicts of ``scripts/gpu-check.sh``: one PASS/FAIL/SKIP line per check, from the raw
outputs the script wrote to a directory.

The script runs the bootstrap's detect, nvidia-driver and gpu-check steps with ``--check`` and
captures ``nvidia-smi`` (CSV query with and without units, ``-q -x``, the table); this module
reads those files, so the verdicts can be recomputed from any capture folder (the committed
``tests/bootstrap/fixtures/nvidia-smi/real-*/`` ones included). Standard library and
:mod:`cmlinfra.bootstrap.gpu` only: it runs as ``python3 -S -m cmlinfra.bootstrap.gpucheck DIR``
from a bare checkout on a GPU machine.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cmlinfra.bootstrap.gpu import Gpu, GpuReport, disagreements, parse_query_csv, parse_smi_xml

STEPS = ("detect", "nvidia-driver", "gpu-check")
# What the script asks nvidia-smi, by the file it writes (steps.GPU_QUERY, tested equal).
CAPTURES = {
    "query.csv": "`nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,"
    "compute_cap --format=csv` (without `compute_cap` on drivers before 510)",
    "query-nounits.csv": "the same with `--format=csv,nounits`",
    "q.xml": "`nvidia-smi -q -x`",
    "nvidia-smi.txt": "`nvidia-smi`",
    "sysfs-nvidia.txt": "vendor, device, class of each `/sys/bus/pci/devices/*` of vendor 0x10de",
}
TIMEOUT_CODES = (124, 137)  # coreutils timeout: TERM, then KILL


@dataclass(frozen=True)
class Verdict:
    status: str  # PASS | FAIL | SKIP
    check: str
    reason: str

    def line(self) -> str:
        return f"{self.status} {self.check}: {self.reason}"


def read_step(path: Path) -> tuple[list[str], int | None]:
    """A step's output as the script saved it: its lines, then ``rc=N``."""
    lines = path.read_text(errors="replace").splitlines()
    if lines and (match := re.fullmatch(r"rc=(\d+)", lines[-1].strip())):
        return lines[:-1], int(match.group(1))
    return lines, None


def facts(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        key, sep, value = line.removeprefix("fact: ").partition("=")
        if line.startswith("fact: ") and sep:
            found[key] = value
    return found


def step_verdict(name: str, lines: list[str], rc: int | None) -> Verdict:
    """PASS (``ok: …`` or detect's facts), SKIP (``skip: …``), or FAIL with the step's own
    last line — its one-line ``error: …`` — and exit code."""
    if rc is None:
        return Verdict("FAIL", name, "the step did not finish (no exit code recorded)")
    if rc in TIMEOUT_CODES:
        return Verdict("FAIL", name, f"timed out (exit {rc})")
    if rc != 0:
        last = next((s for s in reversed(lines) if s.strip()), "no output")
        return Verdict("FAIL", name, f"{last.removeprefix('error: ')} (exit {rc})")
    for prefix, status in (("skip: ", "SKIP"), ("ok: ", "PASS")):
        said = next((s for s in lines if s.startswith(prefix)), None)
        if said is not None:
            return Verdict(status, name, said.removeprefix(prefix))
    if name == "detect":
        found = facts(lines)
        gpu = found.get("gpu", "none")
        if gpu == "none":
            return Verdict("FAIL", name, "found no NVIDIA GPU (fact: gpu=none)")
        where = f"{found.get('os', '?')} {found.get('os_version', '?')}, {found.get('arch', '?')}"
        driver = found.get("nvidia_driver", "?")
        return Verdict("PASS", name, f"{gpu}, driver {driver} ({where})")
    return Verdict("PASS", name, "done")


def _capture(directory: Path, name: str) -> str | None:
    path = directory / name
    return path.read_text(errors="replace") if path.is_file() else None


def _failed(directory: Path, name: str) -> str | None:
    """Why the script's nvidia-smi call for ``name`` failed (it keeps ``NAME.failed``)."""
    path = directory / f"{name}.failed"
    if not path.is_file():
        return None
    lines = [s for s in path.read_text(errors="replace").splitlines() if s.strip()]
    return "; ".join(lines[-2:]) or "no output"


def banner(table: str) -> tuple[str | None, str | None]:
    """Driver and CUDA versions from the header of nvidia-smi's plain table."""
    driver = re.search(r"Driver Version:\s*(\S+)", table)
    cuda = re.search(r"CUDA Version:\s*(\S+)", table)
    return (driver.group(1) if driver else None, cuda.group(1) if cuda else None)


def describe(gpus: list[Gpu], report: GpuReport) -> str:
    """``1x NVIDIA H200 (143771 MiB, compute capability 9.0, PCI 00000000:00:06.0)``: one
    part per model (the pci check lists every bus id)."""
    groups = Counter((g.name, g.memory_mib, g.compute_capability) for g in gpus)
    parts = []
    for (name, mib, cc), count in groups.items():
        details = [f"{mib} MiB", f"compute capability {cc or '?'}"]
        if len(gpus) == 1 and report.gpus:
            details.append(f"PCI {report.gpus[0].pci_bus_id}")
        parts.append(f"{count}x {name} ({', '.join(details)})")
    return "; ".join(parts)


def parser_verdict(directory: Path) -> tuple[Verdict, GpuReport | None]:
    """The CSV (with and without units), the XML and the table's banner, parsed and compared."""
    texts = {name: _capture(directory, name) for name in CAPTURES}
    if all(texts[n] is None for n in ("query.csv", "query-nounits.csv", "q.xml")):
        why = next((w for n in CAPTURES if (w := _failed(directory, n))), None)
        if why is None:
            return Verdict("SKIP", "parser", "no nvidia-smi here: nothing to parse"), None
        return Verdict("FAIL", "parser", f"nvidia-smi gave nothing to parse ({why})"), None
    for name in ("query.csv", "query-nounits.csv", "q.xml"):
        if texts[name] is None:
            why = _failed(directory, name) or "not captured"
            return Verdict("FAIL", "parser", f"no {name}: {why}"), None
    try:
        units = parse_query_csv(texts["query.csv"] or "")
        nounits = parse_query_csv(texts["query-nounits.csv"] or "")
        report = parse_smi_xml(texts["q.xml"] or "")
    except (ValueError, ET.ParseError) as exc:
        return Verdict("FAIL", "parser", f"{type(exc).__name__}: {exc}"), None
    problems = [] if units == nounits else ["the CSV with and without units differ"]
    problems += disagreements(units, report)
    driver, cuda = banner(texts["nvidia-smi.txt"] or "")
    if texts["nvidia-smi.txt"] is not None and (driver, cuda) != (
        report.driver_version,
        report.cuda_version,
    ):
        problems.append(f"table: driver {driver}, CUDA {cuda}; XML: {report.driver_version}, "
                        f"CUDA {report.cuda_version}")  # fmt: skip
    if not units:
        problems.append("the CSV lists no GPU")
    if problems:
        return Verdict("FAIL", "parser", "; ".join(problems)), report
    reason = (
        f"{describe(units, report)}; driver {report.driver_version}, CUDA {report.cuda_version}; "
        "CSV with and without units, XML and table agree"
    )
    return Verdict("PASS", "parser", reason), report


def _pci(address: str) -> str:
    """``00000000:00:06.0`` (nvidia-smi) and ``0000:00:06.0`` (sysfs) → one spelling."""
    *domain, bus, slot = address.strip().lower().split(":")
    return f"{int(domain[0] if domain else '0', 16):04x}:{bus}:{slot}"


def pci_verdict(detected: dict[str, str], report: GpuReport | None) -> Verdict:
    """detect's sysfs view (``fact: gpu_pci``) against the PCI bus ids nvidia-smi reports:
    what detect finds without a driver is what the driver drives."""
    sysfs = sorted(_pci(a) for a in detected.get("gpu_pci", "").split(",") if a.strip())
    if report is None or not report.gpus:
        if sysfs:
            return Verdict("SKIP", "pci", f"no nvidia-smi report to compare sysfs's {sysfs} with")
        return Verdict("SKIP", "pci", "no nvidia-smi report and no NVIDIA GPU in sysfs")
    smi = sorted(_pci(g.pci_bus_id) for g in report.gpus if g.pci_bus_id)
    if not sysfs:
        return Verdict(
            "FAIL",
            "pci",
            f"nvidia-smi reports {', '.join(smi)} but detect reported no NVIDIA VGA/3D "
            "controller in /sys/bus/pci/devices (fact: gpu_pci)",
        )
    if sysfs != smi:
        return Verdict("FAIL", "pci", f"sysfs shows {sysfs}, nvidia-smi reports {smi}")
    return Verdict(
        "PASS", "pci", f"detect found {', '.join(sysfs)} in sysfs, the bus ids nvidia-smi reports"
    )


def verdicts(directory: Path) -> list[Verdict]:
    found: list[Verdict] = []
    detected: dict[str, str] = {}
    for name in STEPS:
        path = directory / f"{name}-step.txt"
        if not path.is_file():
            found.append(Verdict("FAIL", name, "not run (no output recorded)"))
            continue
        lines, rc = read_step(path)
        if name == "detect":
            detected = facts(lines)
        found.append(step_verdict(name, lines, rc))
    parsed, report = parser_verdict(directory)
    return [*found, parsed, pci_verdict(detected, report)]


def record(directory: Path, results: list[Verdict], commit: str) -> str:
    """``SOURCE.md`` for the capture folder (which files, what command, what was found) and a
    row for docs/bootstrap.md's table of recorded runs."""
    detected = {}
    if (directory / "detect-step.txt").is_file():
        detected = facts(read_step(directory / "detect-step.txt")[0])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")  # noqa: UP017 (Python 3.10 too)
    gpu = detected.get("gpu", "?")
    driver = detected.get("nvidia_driver", "?")
    _, cuda = banner(_capture(directory, "nvidia-smi.txt") or "")
    summary = ", ".join(f"{v.check} {v.status}" for v in results)
    row = f"| {date} | {gpu} | {driver} (CUDA {cuda or '?'}) | {summary} | {commit} |"
    files = [f"| `{n}` | {c} |" for n, c in CAPTURES.items() if (directory / n).is_file()]
    files += [f"| `{s}-step.txt` | `images/packer/scripts/NN-{s}.sh --check`, then `rc=N` |"
              for s in STEPS if (directory / f"{s}-step.txt").is_file()]  # fmt: skip
    return "\n".join([
        f"# Real captures: {gpu}, driver {driver} ({date})",
        "",
        f"Written by `scripts/gpu-check.sh --out` (cmlinfra {commit}) on "
        f"{detected.get('os', '?')} {detected.get('os_version', '?')}, kernel "
        f"{detected.get('kernel', '?')}, {detected.get('arch', '?')}. Every file but this one "
        "and `verdicts.txt` is a real capture from that machine.",
        "",
        "| file | command |",
        "|---|---|",
        *files,
        "",
        "## Verdicts",
        "",
        *[f"- {v.line()}" for v in results],
        "",
        "Row for docs/bootstrap.md (*GPU check on real hardware*):",
        "",
        row,
        "",
    ])  # fmt: skip


def main(argv: list[str]) -> int:
    """``DIR [--record COMMIT]``: print the verdicts on DIR's files (1 if a check failed);
    with ``--record`` (what the script passes) also write ``verdicts.txt`` and ``SOURCE.md``
    there — never into a committed fixture folder re-checked by hand."""
    if not argv or argv[0].startswith("-") or (len(argv) > 1 and argv[1:2] != ["--record"]):
        print("usage: python3 -m cmlinfra.bootstrap.gpucheck DIR [--record COMMIT]")
        return 2
    directory = Path(argv[0])
    results = verdicts(directory)
    lines = [v.line() for v in results]
    print("\n".join(lines))
    if len(argv) > 1:
        commit = argv[2] if len(argv) > 2 else "unknown"
        (directory / "verdicts.txt").write_text("\n".join(lines) + "\n")
        (directory / "SOURCE.md").write_text(record(directory, results, commit))
    counts = Counter(v.status for v in results)
    print(f"gpu-check: {counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
