"""``exec --tensorboard LOGDIR``: TensorBoard on the machine, watched live from the launcher.

TensorBoard listens on the machine's loopback only and is reached through the launcher's SSH
connection (:class:`cmlinfra.bootstrap.forward.Forward`), so nothing new is exposed to the
network. The machine gets TensorBoard like DVC (:mod:`cmlinfra.runner.toolbox`) unless its image
has it. The event files come back with the artifacts, for ``report build --tensorboard``.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from dataclasses import dataclass
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner import toolbox
from cmlinfra.ui import progress

REMOTE_PORT = 6006
PIDFILE = "/run/cmlinfra-tensorboard.pid"
LOG = "/var/log/cmlinfra-tensorboard.log"


def requirement() -> str:
    try:
        from importlib.metadata import version

        return f"tensorboard=={version('tensorboard')}"
    except Exception:
        return "tensorboard"


@dataclass
class Live:
    forward: Any  # cmlinfra.bootstrap.forward.Forward
    ssh: Any

    @property
    def url(self) -> str:
        return str(self.forward.url)

    def stop(self) -> None:
        self.forward.close()
        with contextlib.suppress(Exception):
            self.ssh.run(f"[ -f {PIDFILE} ] && kill $(cat {PIDFILE}) || true", timeout=30)


def start(session: Any, workdir: str, logdir: str, local_port: int = 0) -> Live:
    """Install when needed, start ``tensorboard --logdir`` on the machine, wait until it
    answers, and forward a local port to it."""
    ssh = session.ssh
    path = f"{workdir}/{logdir.strip('/')}"
    with session.step("tensorboard"):
        if ssh.run("command -v tensorboard >/dev/null", timeout=60).exit_code != 0:
            target = toolbox.probe(ssh)
            tarball = toolbox.bundle("tensorboard", [requirement()], target)
            toolbox.install(
                ssh, "tensorboard", tarball, {"tensorboard": ("tensorboard.main", "run_main")}
            )
        launch = (  # not `mkdir && nohup … &`: that backgrounds a subshell holding the channel
            f"mkdir -p {shlex.quote(path)}\n"
            f"nohup setsid tensorboard --logdir {shlex.quote(path)} --host 127.0.0.1 "
            f"--port {REMOTE_PORT} --reload_interval 2 >{LOG} 2>&1 </dev/null & "
            f"echo $! > {PIDFILE}"
        )
        ssh.run(launch, timeout=60)
        ready = (
            "python3 -c 'import sys, urllib.request\n"
            f'urllib.request.urlopen("http://127.0.0.1:{REMOTE_PORT}/data/logdir", timeout=2)\''
        )
        deadline = time.monotonic() + 120
        while ssh.run(ready, timeout=30).exit_code != 0:
            if time.monotonic() > deadline:
                tail = ssh.run(f"tail -n 3 {LOG}", timeout=30).tail
                raise CmlinfraError(
                    f"TensorBoard did not start on {ssh.name}: "
                    + (" ".join(tail[-1:]) or "no output"),
                    "check LOGDIR, or run without --tensorboard",
                )
            time.sleep(1)  # tensorboard takes a few seconds to load its plugins
        live = Live(ssh.forward(REMOTE_PORT, local_port), ssh)
    progress(f"TensorBoard: {live.url} (forwarded over SSH from the machine; live while it runs)")
    return live
