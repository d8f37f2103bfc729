"""Bootstrap timings on the local LXD cloud: a cold bootstrap step by step (detect, Docker from
Debian's packages), the idempotent re-run, and four hosts in parallel against one.

One host is bootstrapped cold before and after the parallel run, so the ratio compares like
with like on a machine whose load and package mirror speed drift. Needs
``scripts/localcloud.sh up``; containers are named ``cmlt-boot-bench-*`` and always deleted.
Reproduce alone: ``python benchmarks/run.py bootstrap``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section


def run() -> Section:
    from cmlinfra.bootstrap.run import HostResult, bootstrap_host, bootstrap_hosts
    from cmlinfra.bootstrap.steps import Options, build_steps
    from tests.bootstrap.lxd_hosts import delete, launch

    section = Section("Bootstrap (SSH, LXD containers)", "python benchmarks/run.py bootstrap")
    steps = build_steps(Options(gpu=False))  # detect, docker: what can really run here
    hosts = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)

        def cold_one() -> HostResult:
            hosts.append(launch(key, "bench-"))
            result = bootstrap_host(hosts[-1].target(), steps, wait=60, timeout=900)
            assert result.ok, result.error
            return result

        try:
            first_host = cold_one()
            first = first_host.seconds
            start = time.monotonic()
            again = bootstrap_host(hosts[0].target(), steps, wait=60, timeout=900)
            rerun = time.monotonic() - start
            assert again.ok and again.steps[-1].status == "skipped", again

            group = [launch(key, "bench-") for _ in range(4)]
            hosts += group
            start = time.monotonic()
            many = bootstrap_hosts([h.target() for h in group], steps, wait=60, timeout=900)
            parallel = time.monotonic() - start
            assert all(r.ok for r in many), [r.error for r in many]
            last = cold_one().seconds
        finally:
            for host in hosts:
                delete(host.name)
    single = (first + last) / 2
    docker = [s.seconds for r in many for s in r.steps if s.name == "docker"]
    section.rows += [Row(f"cold: {s.name} step", s.seconds, "s") for s in first_host.steps]
    section.rows += [
        Row("cold: 1 host, detect + docker (before / after)", f"{first:.1f} / {last:.1f}", "s"),
        Row("idempotent re-run, 1 host", rerun, "s", "< 5 s", "each step checks its result"),
        Row(
            "cold: 4 hosts in parallel (wall)",
            parallel,
            "s",
            "< 4x one host",
            "one after another would be 4x",
        ),
        Row(
            "  docker step per host in the parallel run",
            f"{min(docker):.1f} to {max(docker):.1f}",
            "s",
        ),
        Row("parallel / one host", parallel / single, "x", "< 4"),
    ]
    section.notes.append(
        "Containers from the local cloud's Debian 12 image; Docker is Debian's `docker.io` from "
        "the machine's package mirror (dpkg work is CPU-bound: four installs share the cores). "
        f"1-minute load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
        "end (the machine is shared). The GPU steps cannot run here (no NVIDIA card)."
    )
    return section
