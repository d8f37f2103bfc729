"""Runner lifecycle on the local LXD cloud: time to a ready runner against the machine's own
boot (a bare ``lxc launch`` answering SSH), measured side by side in one run; where the launch
spends its time, per phase and per process; four runners in one launch against one; teardown.

CML's weak spot is 6-7 minutes to a ready GPU runner; most of that is cloud boot and agent
install, which the LXD cloud does not have. What this measures is cmlinfra's own overhead
(Terraform, SSH, bootstrap, registration, watchdog) on real components, against the floor the
machine itself sets. Needs ``scripts/localcloud.sh up``; the forge is the fake forge server in
this process. The machine is shared: bare and runner launches alternate, round by round, so
both see the same load, and each ratio is taken within a round.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import launch_cpu
from benchmarks.common import Row, Section
from benchmarks.launch_trace import bare_launch, delete, medians, provider_breakdown, spans

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5  # bare + one runner, alternating
PAIRS = 3  # one runner + four in one launch, alternating

# The breakdown table: (label, span in the trace); indented rows are inside the row above.
PHASES = (
    ("CLI start-up + checks (forge, LXD, terraform found)", "CLI start-up + checks"),
    ("apply: stack synthesis (cdktn)", "synthesizing the stack"),
    ("apply: terraform init", "terraform init"),
    ("apply: terraform apply (plans and applies)", "terraform apply"),
    ("  providers started, once for the command (served)", "providers served"),
    ("apply: LXD: host key + address", "lxd: host key + address"),
    ("ssh wait (connect, host key checked)", "ssh wait"),
    ("bootstrap (detect step)", "bootstrap"),
    ("registration", "registration"),
    ("  forge: runner registration", "forge: runner registration"),
    ("  agent environment (secret, SFTP)", "secret: agent environment"),
    ("  agent-setup script", "script agent-setup"),
    ("watchdog", "watchdog"),
    ("  watchdog-install script (arms it)", "script watchdog-install"),
    ("  agent-start script", "script agent-start"),
)


# the phases of one runner that --count 4 stretches (the others stay at a runner's own time)
COUNT_PHASES = (
    ("stack synthesis (cdktn)", "synthesizing the stack"),
    ("terraform apply", "terraform apply"),
    ("LXD: boot to host key + address", "lxd: host key + address"),
    ("ssh, bootstrap, registration, watchdog", "after boot"),
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CML_", "GITHUB_", "TF_"))},
        "PYTHONPATH": str(ROOT),
        "CMLINFRA_HOME": str(home),
        "CMLINFRA_AGENT_STANDIN": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        **extra,
    }


def _launch_argv(name: str, state: Path, forge: Any, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "cmlinfra", "--json", "runner", "launch", "--cloud", "lxd",
        "--name", name, "--state", str(state), "--single", "--idle-timeout", "1h",
        "--bootstrap-steps", "detect", "--driver", "github", "--repo",
        f"{forge.url}/acme/bench", "--token", forge.token, *extra,
    ]  # fmt: skip


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, epoch start) of one CLI run; raises with its last lines on failure."""
    begun, start = time.time(), time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[3:6])} failed: {done.stderr[-1500:]}")
    return wall, begun


def _destroy(state: Path, env: dict[str, str]) -> float:
    argv = [sys.executable, "-m", "cmlinfra", "runner", "destroy", "--all", "--state", str(state)]
    return _run(argv, env)[0]


class Bench:
    def __init__(self, work: Path, forge: Any, prefix: str) -> None:
        self.work, self.forge, self.prefix, self.n = work, forge, prefix, 0

    def name(self, kind: str) -> str:
        self.n += 1
        return f"{self.prefix}{kind}{self.n}"

    def bare(self) -> float:
        name = self.name("b")
        try:
            return bare_launch(name)
        finally:
            delete(name)

    def bares(self, count: int) -> float:
        """``count`` bare launches at once, until the last answers SSH: the machine's own
        floor for that many."""
        from concurrent.futures import ThreadPoolExecutor

        names = [self.name("b") for _ in range(count)]
        start = time.perf_counter()
        try:
            with ThreadPoolExecutor(max_workers=count) as pool:
                list(pool.map(bare_launch, names))
            return time.perf_counter() - start
        finally:
            delete(*names)

    def runner(self, *extra: str, **env: str) -> tuple[float, dict[str, float]]:
        """One ``runner launch`` (wall, and its trace's spans), destroyed again."""
        n = self.n + 1
        trace, state = self.work / f"trace{n}.jsonl", self.work / f"s{n}"
        environment = _env(self.work / "home", CMLINFRA_TRACE=str(trace), **env)
        wall, begun = _run(_launch_argv(self.name("r"), state, self.forge, *extra), environment)
        self.last_teardown = _destroy(state, _env(self.work / "home"))  # not in the trace/log
        return wall, spans(trace, begun)

    def cpu(self, count: int = 1) -> dict[str, float]:
        """One launch of ``count`` runners, untimed: its CPU seconds by consumer
        (:mod:`benchmarks.launch_cpu`), read before the teardown."""
        name, state = self.name("c"), self.work / f"c{self.n}"
        env = _env(self.work / "home", **launch_cpu.wrapper_env(self.work))
        extra = ("--count", str(count)) if count > 1 else ()
        before = launch_cpu.snapshot()
        _run(_launch_argv(name, state, self.forge, *extra), env)
        after = launch_cpu.snapshot()
        names = [name] if count == 1 else [f"{name}-{i}" for i in range(1, count + 1)]
        used = launch_cpu.containers_cpu(names)
        _destroy(state, _env(self.work / "home"))
        return launch_cpu.breakdown(before, after, self.work / "terraform-cpu.log", used)

    def processes(self, count: int) -> float:
        """``count`` separate ``runner launch`` processes at once (parallel CI jobs)."""
        state, env = self.work / f"p{self.n}", _env(self.work / "home")
        start = time.perf_counter()
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        argvs = [_launch_argv(self.name("p"), state, self.forge) for _ in range(count)]
        procs = [subprocess.Popen(a, env=env, **pipes) for a in argvs]  # type: ignore[call-overload]
        results = [p.communicate(timeout=900) for p in procs]
        wall = time.perf_counter() - start
        _destroy(state, env)
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a parallel launch failed: {results[0][1][-1500:]}")
        return wall


def run() -> Section:
    sys.path.insert(0, str(ROOT))
    from tests.forge_server import ForgeServer

    section = Section("Runner lifecycle (LXD)", "python benchmarks/run.py lifecycle")
    forge = ForgeServer()
    forge.state.add_repo("github", "acme/bench")
    prefix = f"lcb-{secrets.token_hex(2)}-"
    load = [os.getloadavg()[0]]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(Path(tmp), forge, prefix)
            bench.bare(), bench.runner()  # warm-up: caches, the image's first snapshot
            _measure(section, bench)
    finally:
        forge.close()
        delete(*_leftovers(prefix))
    load.append(os.getloadavg()[0])
    section.notes.append(
        "LXD containers on this machine, real terraform 1.11.4, terraform-lxd 1.5.0 and sshd; "
        "the GitHub agent is the test stand-in (no download), so agent install time is not "
        f"included. 1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
        "(the machine is shared). Bare launch: `lxc launch cmlinfra-debian-12 NAME --ephemeral "
        "-c security.nesting=true -c limits.cpu=2 -c limits.memory=4GiB` (the runner's own "
        "settings) until sshd sends its banner on the bridge address. Runner: `cmlinfra "
        "--json runner launch --cloud lxd --single --bootstrap-steps detect …` until the CLI "
        "exits with the runner registered, its watchdog armed and its agent started. Phases "
        "come from `CMLINFRA_TRACE`; the provider's from one more launch with `TF_LOG=DEBUG` "
        "and `CMLINFRA_SERVE_PROVIDERS=0` (served, one provider process runs per command)."
    )
    return section


def _measure(section: Section, bench: Bench) -> None:
    bare, ready, traces, ratios = [], [], [], []
    for _ in range(ROUNDS):
        bare.append(bench.bare())
        wall, trace = bench.runner()
        ready.append(wall)
        traces.append(trace)
        ratios.append(wall / bare[-1])
    b, r = statistics.median(bare), statistics.median(ready)
    rows = section.rows
    rows.append(Row("bare `lxc launch` → SSH answers", b, "s", "", _spread(bare)))
    rows.append(Row("time to a ready runner (`runner launch`)", r, "s", "< 60 s", _spread(ready)))
    rows.append(
        Row(
            "ready runner / bare launch",
            statistics.median(ratios),
            "x",
            "≤ 2",
            f"median of {ROUNDS} rounds' ratios; ratio of the medians {r / b:.2f}",
        )
    )
    phase = medians(traces)
    for label, key in PHASES:
        rows.append(Row(f"  {label}", round(phase.get(key, 0.0), 2), "s"))
    rows.append(Row("teardown, 1 runner (runner destroy)", bench.last_teardown, "s", "< 30 s"))

    # terraform's log stamps a provider's lines in milliseconds only when terraform started
    # that provider itself: this one launch is unserved (one provider process per phase)
    log = bench.work / "tf.log"
    bench.runner(TF_LOG="DEBUG", TF_LOG_PATH=str(log), CMLINFRA_SERVE_PROVIDERS="0")
    for label, value in provider_breakdown(log).items():
        unit = "" if "processes" in label and "lifetime" not in label else "s"
        rows.append(Row(f"  terraform-lxd, unserved: {label}", round(value, 2), unit))

    ones, fours, floors, per_pair, per_floor = [], [], [], [], []
    one_traces, four_traces = [], []
    for _ in range(PAIRS):
        wall, trace = bench.runner()
        ones.append(wall)
        one_traces.append(_with_after_boot(trace))
        wall, trace = bench.runner("--count", "4")
        fours.append(wall)
        four_traces.append({k: v / 4 for k, v in _with_after_boot(trace).items()})
        floors.append(bench.bares(4))
        per_pair.append(fours[-1] / ones[-1])
        per_floor.append(fours[-1] / floors[-1])
    rows.append(
        Row(
            "4 runners in one launch (`runner launch --count 4`)",
            statistics.median(fours),
            "s",
            "≤ 1.5x one",
            f"{statistics.median(per_pair):.2f}x one runner (median of {PAIRS} rounds; "
            f"one runner {statistics.median(ones):.2f} s)",
        )
    )
    rows.append(
        Row(
            "4 bare `lxc launch` at once → all answer SSH",
            statistics.median(floors),
            "s",
            "",
            f"the machine's own floor for 4: {statistics.median(floors) / b:.2f}x one bare "
            f"launch; 4 runners in one launch are {statistics.median(per_floor):.2f}x it",
        )
    )
    # where the extra time of --count 4 goes: each phase per runner, alone and four at once
    alone, together = medians(one_traces), medians(four_traces)
    for label, key in COUNT_PHASES:
        note = f"one runner alone: {alone.get(key, 0.0):.2f} s"
        rows.append(Row(f"  per runner of 4: {label}", round(together.get(key, 0.0), 2), "s",
                        "", note))  # fmt: skip
    rows.append(Row("teardown, 4 runners (runner destroy --all)", bench.last_teardown, "s"))
    # CPU-bound on 2 cores: the CPU-seconds of every consumer over the cores is a wall floor
    cpu_one, cpu_four = bench.cpu(), bench.cpu(4)
    goal = 1.5 * statistics.median(ones)
    rows.append(
        Row("CPU seconds, one runner's launch", cpu_one["total"], "s", "", launch_cpu.note(cpu_one))
    )
    floor = cpu_four["total"] / (os.cpu_count() or 1)
    wall_floor = f"over {os.cpu_count()} cores ≥ {floor:.2f} s of wall (1.5x one: {goal:.2f} s)"
    rows.append(
        Row("CPU seconds, `--count 4`", cpu_four["total"], "s", "",
            f"{launch_cpu.note(cpu_four)}; {wall_floor}")
    )  # fmt: skip
    four = bench.processes(4)
    rows.append(
        Row(
            "4 separate `runner launch` processes at once",
            four,
            "s",
            "",
            f"{four / statistics.median(ones):.2f}x one runner: parallel CI jobs, one launch each",
        )
    )


def _with_after_boot(trace: dict[str, float]) -> dict[str, float]:
    """The trace with ``after boot``: what the launch does once the machine answers."""
    after = sum(trace.get(span, 0.0) for span in ("ssh wait", "bootstrap", "registration",
                                                   "watchdog"))  # fmt: skip
    return {**trace, "after boot": after}


def _spread(samples: list[float]) -> str:
    return f"median of {len(samples)}: " + ", ".join(f"{s:.2f}" for s in samples)


def _leftovers(prefix: str) -> list[str]:
    listing = subprocess.run(
        ["lxc", "list", "--format", "json"], capture_output=True, text=True, check=False
    )
    return [c["name"] for c in json.loads(listing.stdout or "[]") if c["name"].startswith(prefix)]
