"""CLI start-up: how long ``cmlinfra --help``/``--version``/``stack --help`` take in a fresh
process, and whether ``--help`` drags in a heavy library.

Every CI step starts a new ``cmlinfra`` process, so start-up is paid on each one. Command
modules import only typer and the stdlib at import time (DEVELOPERS.md); the heavy libraries
are imported inside the functions that use them. ``-X importtime`` lists what was really
imported, so a stray top-level ``import boto3`` shows up here by name.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Row, Section

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7
HEAVY = ("boto3", "botocore", "paramiko", "cdktn", "jsii", "jinja2", "matplotlib", "requests")
COMMANDS = (("--help",), ("--version",), ("stack", "--help"))


def _env() -> dict[str, str]:
    """This checkout first on the path, as tests/fixtures/cli.py runs the CLI."""
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(args: tuple[str, ...], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-m", "cmlinfra", *args],
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def _median_wall(args: tuple[str, ...]) -> float:
    _run(args)  # one unmeasured run: .pyc files written, page cache warm, as on a CI runner
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        _run(args)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def imported_modules(args: tuple[str, ...]) -> list[tuple[str, float, bool]]:
    """Every module the command imported: name, cumulative import time in ms, and whether it
    was imported at the top of the tree (not by another module's import), from
    ``python -X importtime``."""
    stderr = _run(args, "-X", "importtime").stderr
    found = []
    for line in stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            top = len(parts[2]) - len(parts[2].lstrip()) <= 1  # nesting is indentation
            found.append((parts[2].strip(), int(parts[1]) / 1000, top))
    return found


def _slowest(imported: list[tuple[str, float, bool]], count: int = 3) -> str:
    """The ``count`` top-of-tree imports that took longest (each with its whole subtree)."""
    roots = [(name, ms) for name, ms, top in imported if top]
    roots.sort(key=lambda item: -item[1])
    return ", ".join(f"{name} {ms:.0f} ms" for name, ms in roots[:count])


def run() -> Section:
    rows = [
        Row(f"`cmlinfra {' '.join(args)}`", _median_wall(args), "s", "≤ 0.3 s") for args in COMMANDS
    ]
    interpreter = statistics.median(_timed([sys.executable, "-c", "pass"]) for _ in range(RUNS))
    rows.append(Row("bare `python -c pass`, for reference", interpreter, "s"))
    for args in (("--help",), ("stack", "--help")):
        imported = imported_modules(args)
        names = {name.split(".")[0] for name, _, _ in imported}
        heavy = sorted(name for name in HEAVY if name in names)
        rows.append(
            Row(
                f"heavy modules imported by `cmlinfra {' '.join(args)}`",
                ", ".join(heavy) or "none",
                goal="none",
                note=f"{len(names)} top-level packages in all; slowest: {_slowest(imported)}",
            )
        )
    return Section(
        title="CLI start-up",
        command="python benchmarks/run.py cli",
        rows=rows,
        notes=[
            f"Median of {RUNS} fresh `python -m cmlinfra …` processes after one warm-up run, "
            f"this checkout on PYTHONPATH. Heavy = {', '.join(HEAVY)}; the list comes from "
            "`python -X importtime`.",
            "A group's `--help` costs more than the root's: typer (0.29) builds the group's "
            "parameters through `typer._adapters`, which imports pydantic (≈ 0.1 s); the "
            "slowest-imports note shows it when it happens.",
        ],
    )


def _timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - start
