#!/usr/bin/env python3
"""Before/after of the time to a ready runner, side by side under the same load: a bare
``lxc launch``, ``runner launch`` from another checkout (BASE), and from this one, in a
shuffled order within each round; then one runner against four (four separate launch
processes from BASE, ``--count 4`` and four processes from this checkout).

    python benchmarks/compare_launch.py BASE [ROUNDS]

BASE is a checkout of an earlier commit, e.g. ``git worktree add --detach /tmp/base a1087aa``
(it needs no virtual environment: this one's runs it). Not a ``make bench`` topic: it needs
that second checkout, and takes about ROUNDS x 40 s. Prints medians and per-round ratios.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NEW = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(NEW))

from benchmarks.launch_trace import bare_launch, delete  # noqa: E402


class Launcher:
    def __init__(self, work: Path, forge: object, prefix: str) -> None:
        self.work, self.forge, self.prefix, self.n = work, forge, prefix, 0

    def env(self, root: Path) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("CML_", "GITHUB_", "TF_"))}
        home = self.work / root.name / "home"
        return {**keep, "PYTHONPATH": str(root), "CMLINFRA_HOME": str(home),
                "CMLINFRA_AGENT_STANDIN": "1"}  # fmt: skip

    def argv(self, name: str, state: Path, *extra: str) -> list[str]:
        url, token = self.forge.url, self.forge.token  # type: ignore[attr-defined]
        return [sys.executable, "-m", "cmlinfra", "--json", "runner", "launch", "--cloud", "lxd",
                "--name", name, "--state", str(state), "--single", "--idle-timeout", "1h",
                "--bootstrap-steps", "detect", "--driver", "github", "--repo",
                f"{url}/acme/bench", "--token", token, *extra]  # fmt: skip

    def launch(self, root: Path, count: int = 1, *extra: str) -> float:
        """``count`` launch processes at once from checkout ``root`` (cwd there, so Python
        imports that checkout); wall seconds until all are ready; then destroyed."""
        self.n += 1
        state = self.work / f"s{self.n}"
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                self.argv(f"{self.prefix}{self.n}x{i}", state, *extra),
                env=self.env(root),
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(count)
        ]
        outcomes = [p.communicate(timeout=900) for p in procs]
        wall = time.perf_counter() - start
        destroy = [sys.executable, "-m", "cmlinfra", "runner", "destroy", "--all", "--state"]
        subprocess.run([*destroy, str(state)], env=self.env(root), cwd=root, capture_output=True)
        if any(p.returncode for p in procs):
            raise RuntimeError(f"a launch from {root} failed: {outcomes[0][1][-1500:]}")
        return wall

    def bare(self) -> float:
        self.n += 1
        name = f"{self.prefix}b{self.n}"
        try:
            return bare_launch(name)
        finally:
            delete(name)


def _report(results: dict[str, list[float]]) -> None:
    for label, values in results.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:28} median {statistics.median(values):6.2f} s  ({shown})")


def main(base: Path, rounds: int) -> None:
    from tests.forge_server import ForgeServer

    forge = ForgeServer()
    forge.state.add_repo("github", "acme/bench")
    prefix = f"cmp-{secrets.token_hex(2)}-"
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = Launcher(Path(tmp), forge, prefix)
            run.bare(), run.launch(base), run.launch(NEW)  # warm-up
            one: dict[str, list[float]] = {"bare lxc launch": [], "base": [], "this": []}
            for _ in range(rounds):
                kinds = list(one)
                random.shuffle(kinds)
                for kind in kinds:
                    root = base if kind == "base" else NEW
                    one[kind].append(run.bare() if kind == "bare lxc launch" else run.launch(root))
            _report(one)
            for kind in ("base", "this"):
                pairs = zip(one[kind], one["bare lxc launch"], strict=True)
                print(f"{kind} / bare: median {statistics.median(a / b for a, b in pairs):.2f}x")
            four: dict[str, list[float]] = {
                "base, 1": [], "base, 4 processes": [], "this, 1": [], "this, --count 4": [],
                "this, 4 processes": [],
            }  # fmt: skip
            for _ in range(rounds):
                four["base, 1"].append(run.launch(base))
                four["base, 4 processes"].append(run.launch(base, 4))
                four["this, 1"].append(run.launch(NEW))
                four["this, --count 4"].append(run.launch(NEW, 1, "--count", "4"))
                four["this, 4 processes"].append(run.launch(NEW, 4))
            _report(four)
            for label, of, by in (
                ("base: 4 processes / 1", "base, 4 processes", "base, 1"),
                ("this: --count 4 / 1", "this, --count 4", "this, 1"),
                ("this: 4 processes / 1", "this, 4 processes", "this, 1"),
            ):
                pairs = zip(four[of], four[by], strict=True)
                print(f"{label}: median {statistics.median(a / b for a, b in pairs):.2f}x")
    finally:
        forge.close()
        listing = subprocess.run(
            ["lxc", "list", "--format", "json"], capture_output=True, text=True
        )
        delete(
            *[c["name"] for c in json.loads(listing.stdout or "[]") if c["name"].startswith(prefix)]
        )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), int(sys.argv[2]) if len(sys.argv) > 2 else 5)
