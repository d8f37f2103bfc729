"""A :class:`~cmlinfra.bootstrap.transport.Transport` for this very machine.

``runner launch`` without ``--cloud`` registers the machine it runs on as a runner, as CML does;
its bootstrap steps (the runner agent's install, and whatever ``--bootstrap-steps`` adds) run
here through the same step code as on a cloud machine, only without SSH: as root when cmlinfra
is root, else through ``sudo -n`` (never a password prompt in CI). Files go to a private
temporary directory that is removed on ``close``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from cmlinfra.bootstrap.transport import CommandResult, LineSink, StepTimeout
from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret

TAIL_LINES = 40


class LocalTransport:
    name = "localhost"

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="cmlinfra-local-"))

    def _as_root(self, command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["bash", "-c", command]
        if shutil.which("sudo") is None:
            raise CmlinfraError(
                "this step needs root, and cmlinfra runs as a user without sudo",
                "run runner launch as root, or install the runner agent first",
            )
        return ["sudo", "-n", "--preserve-env=PATH", "bash", "-c", command]

    def run(
        self, command: str, *, timeout: float, on_line: LineSink | None = None
    ) -> CommandResult:
        start = time.monotonic()
        proc = subprocess.Popen(
            self._as_root(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        skipped = False

        def read() -> None:
            nonlocal skipped
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                skipped = skipped or line.startswith("skip: ")
                if on_line is not None:
                    on_line(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            raise StepTimeout(
                f"a command on this machine ran past {timeout:.0f}s", "raise --timeout"
            ) from None
        reader.join(timeout=10)
        return CommandResult(code, tuple(tail), time.monotonic() - start, skipped)

    def put_file(self, data: bytes, path: str, mode: int = 0o644) -> str:
        target = self._dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
        return str(target)

    def get_file(self, path: str) -> bytes:
        from pathlib import Path

        return Path(path).read_bytes()

    def put_secret(self, secret: Secret, path: str) -> None:
        """``path`` as a 0600 file of root's (of this user's when not root), written through
        a file descriptor: the value is never on a command line."""
        staged = self._dir / f"secret-{os.getpid()}-{time.monotonic_ns()}"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret.reveal())
        dest = shlex.quote(path)
        result = self.run(
            f'umask 077; mkdir -p -- "$(dirname -- {dest})" && '
            f"install -m 0600 -- {shlex.quote(str(staged))} {dest}",
            timeout=60,
        )
        staged.unlink(missing_ok=True)
        if result.exit_code != 0:
            raise CmlinfraError(f"could not write {path}", "run as root")

    def reboot(self, deadline: float) -> None:
        raise CmlinfraError(
            "a bootstrap step asked to reboot this machine, the one cmlinfra runs on",
            "reboot it yourself, then run the same command again (finished steps are skipped)",
        )

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)
