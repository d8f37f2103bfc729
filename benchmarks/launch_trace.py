"""Helpers for bench_lifecycle: the bare LXD launch it compares against, and the breakdown of a
runner launch read from ``CMLINFRA_TRACE`` and from terraform's own debug log.

The bare launch is what the machine costs without cmlinfra: ``lxc launch`` of the runner's
image with the runner's container settings, until sshd on its bridge address sends its
banner. Both are measured from the same moment a CI step would: the command starting.
"""

from __future__ import annotations

import json
import re
import socket
import statistics
import subprocess
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

IMAGE = "cmlinfra-debian-12"
# what terraform/modules/lxd/runner sets for cmlinfra's default size
SETTINGS = ("security.nesting=true", "limits.cpu=2", "limits.memory=4GiB")


def _address(api: object, name: str) -> str | None:
    from cmlinfra.clouds.lxd.api import LxdNotFound

    try:
        state = api.get(f"/1.0/instances/{name}/state") or {}  # type: ignore[attr-defined]
    except LxdNotFound:
        return None
    for address in ((state.get("network") or {}).get("eth0") or {}).get("addresses") or []:
        if address.get("family") == "inet" and address.get("scope") == "global":
            return str(address["address"])
    return None


def _banner(host: str) -> bool:
    try:
        with socket.create_connection((host, 22), timeout=1) as sock:
            sock.settimeout(2)
            return sock.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def bare_launch(name: str, timeout: float = 120) -> float:
    """Seconds from ``lxc launch`` to an SSH banner on the new container (which is left for
    the caller to delete). Polls every 50 ms: finer than anything measured here."""
    from cmlinfra.clouds.lxd.api import LxdApi

    api = LxdApi()
    settings = [arg for pair in SETTINGS for arg in ("-c", pair)]
    start = time.perf_counter()
    subprocess.run(
        ["lxc", "launch", IMAGE, name, "--ephemeral", *settings], check=True, capture_output=True
    )
    deadline = start + timeout
    host = None
    while time.perf_counter() < deadline:
        host = host or _address(api, name)
        if host and _banner(host):
            return time.perf_counter() - start
        time.sleep(0.05)  # polling interval of the measurement
    raise RuntimeError(f"bare container {name} did not answer SSH within {timeout:.0f}s")


def delete(*names: str) -> None:
    for name in names:
        subprocess.run(["lxc", "delete", "--force", name], capture_output=True, check=False)


def spans(path: Path, begun: float) -> dict[str, float]:
    """Seconds per span name in one launch's trace (summed when a span repeats), plus
    ``CLI start-up + checks``: from the process start to its first span."""
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    found: dict[str, float] = defaultdict(float)
    for row in rows:
        found[row["span"]] += row["seconds"]
    if rows:
        found["CLI start-up + checks"] = min(r["start"] for r in rows) - begun
    return dict(found)


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    names = {name for sample in samples for name in sample}
    return {n: statistics.median(s.get(n, 0.0) for s in samples) for n in names}


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")
_EVENTS = {
    "Terraform version:": "terraform process",
    "provider: starting plugin": "provider start",
    "provider: plugin exited": "provider exit",
    "LXD Configuration Map": "create request",
    "Attempting to upload file": "file push start",
    "Successfully uploaded file": "file push end",
    "Waiting for state to become": "started",
    "Retrieved container state": "state read",
}


def provider_breakdown(log: Path) -> dict[str, float]:
    """What one terraform apply of the LXD stack spends inside terraform-lxd, from a
    ``TF_LOG=DEBUG`` log: provider processes started and their total lifetime, then the
    create (image snapshot), the authorized_keys push, the start operation, and the wait
    before the provider's first look at the started container (its refresh_interval)."""
    events: list[tuple[float, str]] = []
    for line in log.read_text(errors="replace").splitlines():
        stamp = _STAMP.match(line)
        if not stamp:
            continue
        for needle, event in _EVENTS.items():
            if needle in line:
                when = datetime.fromisoformat(stamp[1]).timestamp()
                events.append((when, event))
                break
    first = {e: t for t, e in reversed(events)}
    starts = [t for t, e in events if e == "provider start"]
    exits = [t for t, e in events if e == "provider exit"]
    result = {
        "terraform processes (`version -json` included)": float(
            sum(1 for _, e in events if e == "terraform process")
        ),
        "provider processes": float(len(starts)),
        "provider processes, lifetime": sum(b - a for a, b in zip(starts, exits, strict=False)),
    }
    steps = (
        ("create + start (LXD operations)", "create request", "started"),
        ("after the start: refresh_interval wait + read", "started", "state read"),
        ("authorized_keys push (into the running container)", "file push start", "file push end"),
    )
    for label, a, b in steps:
        if a in first and b in first and first[b] >= first[a]:
            result[label] = first[b] - first[a]
    return result
