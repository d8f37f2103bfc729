"""Where the CPU of a runner launch goes, for bench_lifecycle: the launcher (Python and jsii's
node), terraform with its provider processes, the LXD daemon, and the containers themselves
(boot, sshd, the scripts the launch runs in them).

Why CPU and not only wall time: on the 2-core bench machine N runners launched at once are bound
by CPU. The CPU-seconds of all consumers divided by the cores is a floor for the wall time that
no overlap or reordering inside cmlinfra can beat, and the split says which consumer a cut
would have to shrink. Terraform's share is measured through a bash wrapper set as
``CMLINFRA_TERRAFORM`` whose ``times`` builtin reports each terraform run's CPU with its
providers' (bash's own start-up is ~2 ms), so these launches are not the timed ones.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from pathlib import Path

_WRAPPER = """#!/bin/bash
"$CMLINFRA_BENCH_TF" "$@"
rc=$?
times >>"$CMLINFRA_BENCH_TF_LOG"  # two lines: the shell, then its children
exit $rc
"""


def wrapper_env(work: Path) -> dict[str, str]:
    """The environment that runs every terraform of a launch through the accounting wrapper
    (an empty log each time)."""
    real = shutil.which("terraform") or shutil.which("tofu")
    if real is None:
        raise RuntimeError("neither terraform nor tofu is on PATH")
    wrapper, log = work / "terraform-cpu.sh", work / "terraform-cpu.log"
    wrapper.write_text(_WRAPPER)
    wrapper.chmod(0o755)
    log.write_text("")
    return {
        "CMLINFRA_TERRAFORM": str(wrapper),
        "CMLINFRA_BENCH_TF": real,
        "CMLINFRA_BENCH_TF_LOG": str(log),
    }


def snapshot() -> tuple[float, float]:
    """(CPU seconds of this process's waited-for descendants, of the LXD daemon and its
    waited-for children)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime, _daemon_cpu()


def _daemon_cpu() -> float:
    found = subprocess.run(["pgrep", "-o", "-x", "lxd"], capture_output=True, text=True)
    pid = found.stdout.strip()
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def containers_cpu(names: list[str]) -> float:
    """CPU seconds the running containers ``names`` have used since they started (cgroup v1
    ``cpuacct`` or v2 ``cpu.stat``)."""
    total = 0.0
    for name in names:
        v1 = Path(f"/sys/fs/cgroup/cpuacct/lxc.payload.{name}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/lxc.payload.{name}/cpu.stat")
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2.exists():
            usage = dict(line.split() for line in v2.read_text().splitlines())
            total += int(usage["usage_usec"]) / 1e6
    return total


def _terraform_cpu(log: Path) -> float:
    """The sum of the wrapper's children lines: ``times`` writes ``XmY.YYYs XmZ.ZZZs`` (user,
    system) for the shell, then for its children (that terraform run and its providers)."""
    total = 0.0
    for line in log.read_text().splitlines()[1::2]:
        for part in line.split():
            minutes, seconds = part.rstrip("s").split("m")
            total += int(minutes) * 60 + float(seconds)
    return total


def breakdown(
    before: tuple[float, float], after: tuple[float, float], log: Path, containers: float
) -> dict[str, float]:
    """CPU seconds by consumer for one launch, and their total."""
    tree = after[0] - before[0]
    terraform = _terraform_cpu(log)
    parts = {
        "launcher (Python, node)": tree - terraform,
        "terraform + provider": terraform,
        "LXD daemon": max(0.0, after[1] - before[1]),
        "containers (boot, sshd, scripts)": containers,
    }
    return {**parts, "total": sum(parts.values())}


def note(parts: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if k != "total")
