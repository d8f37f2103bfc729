"""The report's "Machine" section: where a run landed and what its launch tried first.

``report build --launch FILE`` reads the ``--json`` output of ``exec``, ``runner launch`` or
``stack apply`` — each carries ``machine`` (the candidate it landed on) and ``attempts`` (every
candidate tried or set aside, docs/failover.md) — so a pull request shows why its job ran where
it ran and what that costs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.markdown import Section


def _price(value: Any) -> str:
    return "-" if value is None else f"${float(value):.4g}/h"


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CmlinfraError(f"--launch file {path} does not exist", "check the path") from None
    except (OSError, ValueError) as exc:
        raise CmlinfraError(
            f"--launch file {path} is not JSON ({exc})",
            "give the --json output of exec, runner launch or stack apply",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("machine"), dict):
        raise CmlinfraError(
            f"--launch file {path} says nothing of a machine",
            "give the --json output of exec, runner launch or stack apply",
        )
    return data


def section(path: Path) -> Section:
    """The section for one launch's JSON: a line, and a table of the attempts."""
    data = load(path)
    machine, attempts = data["machine"], list(data.get("attempts") or [])
    spot = " spot" if machine.get("spot") else ""
    where = f"{machine.get('cloud', '?')} {machine.get('region', '?')} {machine.get('type', '?')}"
    refused = [a for a in attempts if a.get("outcome") != "launched"]
    line = f"Ran on **{where}{spot}** ({_price(machine.get('hourly_price'))})"
    if refused:
        line += f", after {len(refused)} refused candidate{'s' * (len(refused) != 1)}"
    rows = [
        f"| {n} | {_cell(a.get('cloud', ''))} {_cell(a.get('region', ''))} "
        f"{_cell(a.get('type', ''))}{' spot' if a.get('spot') else ''} | "
        f"{_price(a.get('price'))} | {_cell(a.get('outcome', ''))} | {_cell(a.get('error', ''))} |"
        for n, a in enumerate(attempts, 1)
    ]
    table = ["| # | candidate | price | outcome | why |", "|---|---|---|---|---|", *rows]
    body = line + "." + ("\n\n" + "\n".join(table) if len(attempts) > 1 else "")
    return Section("Machine", body, collapsed=len(attempts) > 5)
