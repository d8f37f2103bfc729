"""Chaos: the launcher (with terraform and everything it started) is SIGKILLed at seeded random
moments of every phase; one ``gc --yes`` must then leave zero containers, zero registered
runners, zero records and zero locks, and a second run must find nothing.

Phases are recognised by the launcher's own progress lines; the delay after each line is drawn
from a seeded generator, so a failing case can be replayed (CHAOS_SEED).
"""

from __future__ import annotations

import json
import os
import random
import time

import pytest

from cmlinfra.runner.store import open_store
from tests.runner.conftest import containers

pytestmark = pytest.mark.lxd

# (phase, the progress line that starts it, command kind)
PHASES = [
    ("apply", "applying stack", "launch"),
    ("bootstrap", "bootstrap…", "launch"),
    ("registration", "registration…", "launch"),
    ("job", "run…", "exec"),
]


def kill_during(lc, name: str, marker: str, kind: str, delay: float) -> str:  # type: ignore[no-untyped-def]
    if kind == "launch":
        args = lc.launch_args(name, "--single", "--idle-timeout", "1h")
    else:
        args = ["exec", "--cloud", "lxd", "--name", name, "--state", lc.state, "--", "sleep", "600"]
    proc = lc.popen(*args)
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.strip().startswith(marker):
                time.sleep(delay)  # the seeded moment inside the phase, not synchronisation
                break
        else:
            raise AssertionError(f"{name} ended before {marker!r}: {''.join(seen)[-2000:]}")
    finally:
        lc.kill_job(proc)
    return "".join(seen)


def test_gc_cleans_up_after_launchers_killed_in_every_phase(lifecycle, cli) -> None:
    lc = lifecycle
    seed = int(os.environ.get("CHAOS_SEED", "20261127"))
    rng = random.Random(seed)
    for index, (_phase, marker, kind) in enumerate(rng.sample(PHASES, len(PHASES))):
        kill_during(lc, f"{lc.prefix}c{index}", marker, kind, rng.uniform(0.0, 1.5))

    # bootstrap, registration and job kills come after apply: their containers are left running
    assert len(containers(lc.prefix)) >= 3
    report = cli(*lc.gc_args("--yes"), env=lc.env())
    assert report.returncode == 0, f"seed {seed}: {report.stdout}{report.stderr[-2000:]}"
    store = open_store(lc.state)
    left = (containers(lc.prefix), lc.runners(), store.names(), store.lock_names())
    held = [store.read_lock(name) for name in left[3]]  # whose lock gc judged alive, and why
    assert left == ([], [], [], []), (
        f"seed {seed}: left behind {left}; locks {held}\n{report.stdout}{report.stderr[-3000:]}"
    )
    again = json.loads(cli(*lc.gc_args(), env=lc.env()).stdout)
    assert again["findings"] == [], f"seed {seed}: second sweep found {again['findings']}"
