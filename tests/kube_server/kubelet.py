"""The fake kubelet: each container is a real process, PID 1 of its own PID and mount
namespaces (``unshare``), with a private copy of the paths a runner writes to bind-mounted
over the host's (``/etc`` an overlay of the host's), and its Secret volumes projected into a
directory mounted at their ``mountPath``. ``exec`` enters those namespaces (``nsenter``) as a
container runtime does; a deadline or a deletion ends a container as the kubelet does (SIGTERM
to PID 1, SIGKILL after the pod's grace period). Needs root, as the test machines and CI have."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

# the paths a runner, its bootstrap and its jobs write to: private per pod
PRIVATE_DIRS = (
    "/etc/cmlinfra",
    "/opt/cmlinfra",
    "/var/lib/cmlinfra",
    "/usr/local/lib/cmlinfra",
    "/root",
    "/home",
    "/tmp",
)
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}


class Container:
    """One running container: its host-side root directory and its PID 1."""

    def __init__(
        self, pod: str, command: list[str], mounts: dict[str, str], on_exit: Callable[[int], None]
    ) -> None:
        self.pod = pod
        self.root = Path(tempfile.mkdtemp(prefix=f"kubelet-{pod}-"))
        binds: list[tuple[str, str]] = []
        for path in PRIVATE_DIRS:
            mine = self.root / path.lstrip("/")
            mine.mkdir(parents=True, exist_ok=True)
            if path == "/tmp":
                mine.chmod(0o1777)
            binds.append((str(mine), path))
        binds += [(source, target) for target, source in mounts.items()]
        # /tmp last: the sources above live under the host's /tmp
        binds.sort(key=lambda bind: bind[1] == "/tmp")
        # /etc: the host's, with this container's changes in an overlay (useradd renames
        # /etc/passwd+ over /etc/passwd, which a bind-mounted file would refuse)
        upper, work = self.root / "etc-upper", self.root / "etc-work"
        upper.mkdir()
        work.mkdir()
        setup = "; ".join(
            [
                f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc",
                *(
                    f"[ -e {target!r} ] || mkdir -p {target!r}; mount --bind {source!r} {target!r}"
                    for source, target in binds
                ),
            ]
        )
        self.log = self.root.parent / f"{self.root.name}.log"
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--",
                "/bin/sh",
                "-c",
                f'set -e; {setup}; exec "$@"',
                "container",
                *command,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**ENV, "HOSTNAME": pod},
            start_new_session=True,
        )
        self.exit_code: int | None = None
        threading.Thread(target=self._wait, args=(on_exit,), daemon=True).start()

    def _wait(self, on_exit: Callable[[int], None]) -> None:
        code = self.process.wait()
        self.exit_code = code if code >= 0 else 128 - code
        self._log.close()
        on_exit(self.exit_code)

    def init_pid(self) -> int:
        """The host PID of the container's PID 1 (unshare's child)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        text = children.read_text().split() if children.exists() else []
        if not text:
            raise RuntimeError(f"container of {self.pod} has no running process")
        return int(text[0])

    def exec(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """``argv`` inside the container's namespaces, with pipes for the three channels."""
        return subprocess.Popen(
            [
                "nsenter",
                "--target",
                str(self.init_pid()),
                "--mount",
                "--pid",
                "--",
                "env",
                "-i",
                *(f"{k}={v}" for k, v in ENV.items()),
                f"HOSTNAME={self.pod}",
                *argv,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def logs(self) -> bytes:
        return self.log.read_bytes() if self.log.exists() else b""

    def kill(self) -> None:
        """SIGKILL the whole container (what is left after the grace period)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 9)
            self.process.wait()

    def terminate(self, grace: float) -> None:
        """What the kubelet does at a deadline or a deletion: SIGTERM to the container's PID 1
        (which, as any PID 1, gets it only if it handles it), then SIGKILL to whatever is left
        once ``terminationGracePeriodSeconds`` have passed."""
        if self.process.poll() is None:
            with contextlib.suppress(RuntimeError, ProcessLookupError):
                os.kill(self.init_pid(), signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        self.kill()

    def terminate_and_remove(self, grace: float) -> None:
        self.terminate(grace)
        self.remove()

    def remove(self) -> None:
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
        self.log.unlink(missing_ok=True)
