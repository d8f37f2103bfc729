"""Stack synthesis (cdktn, including its node child) and, when the local cloud is up, a real
LXD stack apply/destroy.

Synthesis runs in a fresh Python process each time, as ``cmlinfra stack``/``runner launch``
do: the import of cdktn and the start of jsii's node process are part of the cost. Peak memory
is the Python process's plus its node child's high-water mark (VmHWM), read before exit.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from cmlinfra.clouds.base import MachineRequest, ResolvedMachine
from cmlinfra.clouds.lxd.cloud import LxdCloud
from cmlinfra.stack.compose import synthesize
machine = ResolvedMachine(MachineRequest(name="bench", metadata={"team": "ml"}), "lxd", "m",
                          "local", None, 0, 2, 4, 0.0, "cmlinfra-debian-12", {"expires": None})
spec = LxdCloud(api=None).stack(machine, "ssh-ed25519 AAAA bench")
t1 = time.perf_counter()
synthesize(spec, Path(sys.argv[1]) / "a")
t2 = time.perf_counter()
synthesize(spec, Path(sys.argv[1]) / "b")
t3 = time.perf_counter()

from benchmarks.common import peak_rss_mib  # after the timings: not part of the cost
rss = peak_rss_mib()
print(json.dumps({"first": t2 - t0, "import": t1 - t0, "warm": t3 - t2, "rss_mib": rss}))
"""


def _synth_once(tmp: Path) -> tuple[float, dict[str, float]]:
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    env["PYTHONPATH"] = str(ROOT)
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp)], env=env, capture_output=True, text=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - start, result


def _lxd_rows() -> list[Row]:
    """Real apply/destroy of one lxd stack (skipped with a note when LXD is not up)."""
    from cmlinfra.clouds.base import MachineRequest
    from cmlinfra.clouds.lxd.api import LxdApi
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.stack import service

    try:
        LxdApi().ping()
    except CmlinfraError:
        return [Row("lxd stack apply", "not run", note="LXD not up: make localcloud")]
    with tempfile.TemporaryDirectory() as home:
        os.environ["CMLINFRA_HOME"] = home
        name = f"cmlt-bench-{os.getpid()}"
        start = time.perf_counter()
        service.apply(service.prepare(MachineRequest(name=name), "lxd"))
        applied = time.perf_counter() - start
        start = time.perf_counter()
        service.destroy(name)
        destroyed = time.perf_counter() - start
    return [
        Row("lxd stack apply (synth, init, plan, apply, host key)", applied, "s", "≤ 15 s"),
        Row("lxd stack destroy", destroyed, "s", "≤ 15 s"),
    ]


def run() -> Section:
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(5):
            samples.append(_synth_once(Path(tmp) / str(i)))
    walls = [w for w, _ in samples]
    first = [s["first"] for _, s in samples]
    rows = [
        Row("synth, cold (import + node start + synth)", statistics.median(first), "s", "≤ 1.5 s"),
        Row(
            "synth, warm (second stack, same process)",
            statistics.median([s["warm"] for _, s in samples]),
            "s",
        ),
        Row("whole process incl. interpreter start", statistics.median(walls), "s"),
        Row(
            "CPU time of that process and its node child",
            statistics.median([s["cpu"] for _, s in samples]),
            "s",
            note="less sensitive to a loaded machine than wall time",
        ),
        Row(
            "peak RSS, Python + node child",
            max(s["rss_mib"] for _, s in samples),
            "MiB",
            "≤ 150 MB (143 MiB)",
        ),
        *_lxd_rows(),
    ]
    return Section(
        title="Stack synthesis (cdktn) and the local cloud",
        command="python benchmarks/run.py stack_synth",
        rows=rows,
        notes=[
            "Median of 5 fresh processes; the lxd rows are one real container through terraform "
            "1.11.4 with the provider's refresh_interval at 1 s (10 s by default: ≈ 24 s create)."
        ],
    )
