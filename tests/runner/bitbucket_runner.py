"""A stand-in for Atlassian's linux-shell Bitbucket runner, as the reclaim watcher sees it: a
long-running process (the runner's java, the agent unit's main PID) that runs a step's script
as its child with the step's environment (``BITBUCKET_*`` and the user's secured variables),
in the step's clone folder, then stays, idle, for the next step. A stand-in ``systemctl``
answers the unit's ``MainPID`` and stops the unit as systemd would (its whole process group).

What only a real runner shows, and this assumes: that its step processes descend from its java
process and carry those variables (docs/reclaim.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RUNNER = r"""
import json, subprocess, sys, time
spec = json.loads(sys.stdin.read())
step = subprocess.Popen(["bash", "-c", spec["script"]], cwd=spec["clone"], env=spec["env"])
open(spec["step_pid"], "w").write(str(step.pid))
step.wait()
open(spec["step_pid"] + ".done", "w").write(str(step.returncode))
while True:  # idle, for the next step
    time.sleep(3600)
"""


@dataclass
class Runner:
    process: subprocess.Popen[str]
    step_pid: Path
    shims: Path  # a folder with the stand-in systemctl, first on the watcher's PATH

    def step_done(self) -> bool:
        return Path(f"{self.step_pid}.done").exists()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def start(tmp: Path, clone: Path, env: dict[str, str], script: str) -> Runner:
    """The runner, running ``script`` as a step in ``clone`` with ``env`` (and PATH)."""
    import os

    tmp.mkdir(parents=True, exist_ok=True)
    step_pid = tmp / "step.pid"
    spec = {"script": script, "clone": str(clone), "step_pid": str(step_pid),
            "env": {"PATH": os.environ["PATH"], **env}}  # fmt: skip
    own = {k: v for k, v in os.environ.items() if not k.startswith("BITBUCKET_")}
    process = subprocess.Popen(
        [sys.executable, "-c", _RUNNER], stdin=subprocess.PIPE, env=own, text=True,
        start_new_session=True,  # its own process group: what 'systemctl stop' ends
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(json.dumps(spec))
    process.stdin.close()
    shims = tmp / "shims"
    shims.mkdir(exist_ok=True)
    systemctl = shims / "systemctl"
    systemctl.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  show) echo {process.pid} ;;\n"
        f"  stop) kill -TERM -- -{process.pid} ;;\n"
        "esac\n"
    )
    systemctl.chmod(0o755)
    return Runner(process, step_pid, shims)
