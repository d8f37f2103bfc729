"""Runner lifecycle on the local LXD cloud: time to a ready runner (with its breakdown), four
runners launched in parallel against one, and teardown.

CML's weak spot is 6-7 minutes to a ready GPU runner; most of that is cloud boot and agent
install, which the LXD cloud does not have. What this measures is cmlinfra's own overhead
(Terraform, SSH, bootstrap, registration, watchdog) on real components. Needs
``scripts/localcloud.sh up``; the forge is the fake forge server in this process.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section

ROOT = Path(__file__).resolve().parents[1]


def _env(home: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CML_", "GITHUB_"))},
        "PYTHONPATH": str(ROOT),
        "CMLINFRA_HOME": str(home),
        "CMLINFRA_AGENT_STANDIN": "1",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }


def _launch(name: str, state: Path, forge: object, env: dict[str, str]) -> subprocess.Popen[str]:
    url, token = forge.url, forge.token  # type: ignore[attr-defined]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cmlinfra",
            "--json",
            "runner",
            "launch",
            "--cloud",
            "lxd",
            "--name",
            name,
            "--state",
            str(state),
            "--single",
            "--idle-timeout",
            "1h",
            "--bootstrap-steps",
            "detect",
            "--driver",
            "github",
            "--repo",
            f"{url}/acme/bench",
            "--token",
            token,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"launch failed: {err[-1500:]}")
    return dict(json.loads(out)["timings"])


def _destroy(state: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cmlinfra", "runner", "destroy", "--all", "--state", str(state)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def run() -> Section:
    sys.path.insert(0, str(ROOT))
    from tests.forge_server import ForgeServer

    section = Section("Runner lifecycle (LXD)", "python benchmarks/run.py lifecycle")
    forge = ForgeServer()
    forge.state.add_repo("github", "acme/bench")
    prefix = f"lcb-{secrets.token_hex(2)}-"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            env = _env(work / "home")
            one = _launch(f"{prefix}one", work / "s1", forge, env)
            start = time.perf_counter()
            timings = _ready(one)
            single_wall = time.perf_counter() - start
            section.rows.append(
                Row("time to ready runner, 1 runner", single_wall, "s", "< 60 s", "wall, CLI")
            )
            for stage in ("apply", "ssh wait", "bootstrap", "registration", "watchdog"):
                section.rows.append(Row(f"  {stage}", round(timings.get(stage, 0.0), 2), "s"))
            section.rows.append(
                Row(
                    "teardown, 1 runner (runner destroy)", _destroy(work / "s1", env), "s", "< 30 s"
                )
            )
            start = time.perf_counter()
            procs = [_launch(f"{prefix}p{i}", work / "s4", forge, env) for i in range(4)]
            for proc in procs:
                _ready(proc)
            four_wall = time.perf_counter() - start
            section.rows.append(
                Row(
                    "time to 4 ready runners, launched in parallel",
                    four_wall,
                    "s",
                    "< 4x one",
                    f"{four_wall / single_wall:.1f}x one runner",
                )
            )
            section.rows.append(
                Row("teardown, 4 runners (runner destroy --all)", _destroy(work / "s4", env), "s")
            )
    finally:
        forge.close()
        for name in _leftovers(prefix):
            subprocess.run(["lxc", "delete", "--force", name], capture_output=True)
    section.notes.append(
        "LXD containers on this machine, real terraform 1.11.4 and sshd; the GitHub agent is "
        "the test stand-in (no download), so agent install time is not included."
    )
    return section


def _leftovers(prefix: str) -> list[str]:
    listing = subprocess.run(
        ["lxc", "list", "--format", "json"], capture_output=True, text=True, check=False
    )
    return [c["name"] for c in json.loads(listing.stdout or "[]") if c["name"].startswith(prefix)]
