"""Bootstrap timings on the local LXD cloud: a cold bootstrap step by step (detect, Docker from
Debian's packages), the idempotent re-run, and four hosts in parallel against one.

Needs ``scripts/localcloud.sh up``; containers are named ``cmlt-bench-*`` and always deleted.
Reproduce alone: ``python benchmarks/run.py bootstrap``.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section


def run() -> Section:
    from cmlinfra.bootstrap.run import bootstrap_host, bootstrap_hosts
    from cmlinfra.bootstrap.steps import Options, build_steps
    from tests.bootstrap.lxd_hosts import delete, launch

    section = Section("Bootstrap (SSH, LXD containers)", "python benchmarks/run.py bootstrap")
    steps = build_steps(Options(gpu=False))  # detect, docker: what can really run here
    hosts = []
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        try:
            hosts.append(launch(key, "bench-"))
            cold = bootstrap_host(hosts[0].target(), steps, wait=60, timeout=900)
            assert cold.ok, cold.error
            for step in cold.steps:
                section.rows.append(Row(f"cold: {step.name}", step.seconds, "s"))
            section.rows.append(Row("cold: total, 1 host (SSH + steps)", cold.seconds, "s"))
            start = time.monotonic()
            again = bootstrap_host(hosts[0].target(), steps, wait=60, timeout=900)
            rerun = time.monotonic() - start
            assert again.ok and again.steps[-1].status == "skipped", again
            section.rows.append(Row("idempotent re-run, 1 host", rerun, "s", "< 5 s",
                                    "every step checks its result first"))  # fmt: skip

            hosts += [launch(key, "bench-") for _ in range(4)]
            start = time.monotonic()
            many = bootstrap_hosts([h.target() for h in hosts[1:]], steps, wait=60, timeout=900)
            parallel = time.monotonic() - start
            assert all(r.ok for r in many), [r.error for r in many]
            note = "beats one after another; 4 dpkg runs share the CPUs"
            section.rows.append(
                Row("cold: 4 hosts in parallel (wall)", parallel, "s", "< 4x one host", note)
            )
            section.rows.append(
                Row("parallel slowdown (4 hosts / 1 host)", parallel / cold.seconds, "x")
            )
        finally:
            for host in hosts:
                delete(host.name)
    section.notes.append(
        "Containers from the local cloud's Debian 12 image; Docker is Debian's `docker.io` from "
        "the machine's package mirror. The GPU steps cannot run here (no NVIDIA card)."
    )
    return section
