"""``runner list``: what is running, where (the candidate its launch landed on, and how many it
tried: docs/failover.md), for how long, until when, and what it has cost so far."""

from __future__ import annotations

import time
from typing import Any

from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import RunnerStore, locks, records

COLUMNS = (
    "NAME", "CLOUD", "REGION", "TYPE", "SCOPE", "PHASE", "AGE", "IDLE", "EXPIRES IN", "COST",
    "TRIED",
)  # fmt: skip


def human(seconds: float | None) -> str:
    """``95`` → ``1m35s``, ``7500`` → ``2h05m``; ``None`` → ``-``."""
    if seconds is None:
        return "-"
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def row(record: RunnerRecord, now: float, locked: bool) -> dict[str, Any]:
    """One runner as JSON-friendly values (numbers in seconds and USD)."""
    idle = now - record.last_activity if record.last_activity and record.phase == "ready" else None
    return {
        "name": record.name,
        "cloud": record.cloud,
        "type": record.instance_type,
        "region": record.region,
        "labels": record.labels,
        "phase": record.phase + (" (locked)" if locked else ""),
        "mode": record.mode,
        "age_seconds": round(record.age(now)),
        "idle_seconds": None if idle is None else round(idle),
        "idle_timeout_seconds": record.idle_timeout,
        "expires_in_seconds": None if record.expires is None else round(record.expires - now),
        "hourly_price_usd": record.hourly_price,
        "spot": record.spot,
        # the candidates its launch tried or set aside, the last one the machine it runs on
        "attempts": record.attempts,
        "cost_so_far_usd": record.cost_so_far(now),
        "host": record.host,
        "instance_id": record.instance_id,
        "forge": record.forge,
        "repo": record.repo,
        # where it is registered; records older than scopes were all repository runners
        "scope": record.scope or ("repository" if record.forge else ""),
        "runner_id": record.runner_id,
    }


def list_runners(store: RunnerStore, now: float | None = None) -> list[dict[str, Any]]:
    now = now or time.time()
    held = {lock.name for lock in locks(store)}
    return [row(r, now, r.name in held) for r in records(store)]


def table(rows: list[dict[str, Any]]) -> str:
    """A plain aligned table (CI logs have no colours to spare)."""
    if not rows:
        return "no runners"
    cells = [
        [
            r["name"],
            r["cloud"],
            r["region"] or "-",
            (r["type"] or "-") + ("(spot)" if r["spot"] else ""),
            r["scope"] or "-",
            r["phase"],
            human(r["age_seconds"]),
            human(r["idle_seconds"]),
            human(r["expires_in_seconds"]) if r["expires_in_seconds"] is not None else "never",
            "-" if r["cost_so_far_usd"] is None else f"${r['cost_so_far_usd']:.2f}",
            str(len(r["attempts"])) if r["attempts"] else "-",
        ]
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(COLUMNS, *cells, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [list(COLUMNS), *cells]
    ]
    return "\n".join(lines)
