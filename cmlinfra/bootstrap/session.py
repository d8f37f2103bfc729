"""A live SSH session to one host: commands as root with streamed output and timeouts, SFTP
uploads, secrets into root-only files, and reboots. The paramiko side of
:class:`~cmlinfra.bootstrap.transport.Transport`.
"""

from __future__ import annotations

import contextlib
import shlex
import time
import uuid
from collections import deque
from collections.abc import Iterator

import paramiko

from cmlinfra.bootstrap.dial import Progress, SshTarget, open_client, reason
from cmlinfra.bootstrap.forward import Forward
from cmlinfra.bootstrap.transport import (
    CommandResult,
    ConnectionLost,
    LineSink,
    StepTimeout,
    Unreachable,
)
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.secrets import Secret, redact

TAIL_LINES = 30
REBOOT_MARKER = "/run/cmlinfra-reboot-pending"  # /run is a tmpfs: gone after a reboot


class SshTransport:
    """A live SSH connection to one host (not thread-safe: one per host and thread)."""

    def __init__(
        self,
        target: SshTarget,
        client: paramiko.SSHClient,
        pkey: paramiko.PKey | None,
        say: Progress,
    ) -> None:
        self.target = target
        self.name = target.label
        self._client = client
        self._pkey = pkey
        self._say = say
        self._sftp: paramiko.SFTPClient | None = None
        self._home: str | None = None
        self._private: dict[str, str] = {}  # sub → its private folder, made on this connection

    # -- commands ---------------------------------------------------------------------------

    def _as_root(self, command: str, timeout: float) -> str:
        # the remote timeout is a backstop for a dropped connection; the local deadline (a few
        # seconds earlier) is what reports the timeout
        inner = f"timeout -k 10 {int(timeout) + 5} bash -c {shlex.quote(command)}"
        return inner if self.target.user == "root" else f"sudo -n -- {inner}"

    def check_root(self) -> None:
        if self.target.user == "root":
            return
        result = self.run("true", timeout=30)
        if result.exit_code != 0:
            raise CmlinfraError(
                f"{self.target.user}@{self.target.host} cannot run sudo without a password "
                f"({' '.join(result.tail[-1:]) or 'exit ' + str(result.exit_code)})",
                "grant the user NOPASSWD sudo, or connect as root",
            )

    def run(
        self, command: str, *, timeout: float, on_line: LineSink | None = None
    ) -> CommandResult:
        start = time.monotonic()
        deadline = start + timeout
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionLost(f"connection to {self.name} is closed", "re-run to resume")
        try:
            chan = transport.open_session(timeout=15)
            chan.set_combine_stderr(True)
            chan.exec_command(self._as_root(command, timeout))
            chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionLost(
                f"connection to {self.name} lost: {reason(exc)}", "re-run to resume"
            ) from None
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        skipped = False
        pending = b""
        chan.settimeout(0.5)

        def emit(raw: bytes) -> None:
            nonlocal skipped
            line = redact(raw.decode("utf-8", "replace").rstrip("\r"))
            skipped = skipped or line.startswith("skip: ")
            tail.append(line)
            if on_line is not None:
                on_line(line)

        with contextlib.closing(chan):
            while True:
                if time.monotonic() > deadline:
                    raise StepTimeout(
                        f"{self.name}: command ran past its {timeout:.0f}s timeout",
                        "raise --timeout or look at the output above",
                    )
                try:
                    data = chan.recv(65536)
                except TimeoutError:
                    if not transport.is_active():
                        break
                    continue
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    emit(raw)
            if pending:
                emit(pending)
            while not chan.exit_status_ready() and transport.is_active():
                if time.monotonic() > deadline:
                    raise StepTimeout(f"{self.name}: command ran past its {timeout:.0f}s timeout")
                chan.status_event.wait(0.5)
            code = chan.exit_status if chan.exit_status_ready() else -1
        if code == -1 or not transport.is_active():
            raise ConnectionLost(
                f"connection to {self.name} lost in the middle of a command",
                "re-run: finished steps are skipped",
            )
        return CommandResult(code, tuple(tail), time.monotonic() - start, skipped)

    # -- files ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _wire(self, what: str) -> Iterator[None]:
        """SFTP failures mid-way (a dropped connection, a full disk) as one-line errors."""
        try:
            yield
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionLost(
                f"{self.name}: {what} failed: {reason(exc)}", "check the host and re-run"
            ) from None

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._client.open_sftp()
            self._home = self._sftp.normalize(".")
        return self._sftp

    def _private_dir(self, sub: str) -> str:
        """``~/.cmlinfra/SUB``, 0700, made (and its mode set) once per connection: each SFTP
        request is a round trip, and from a CI job to a cloud region one costs 20-100 ms;
        a launch uploads about ten files."""
        made = self._private.get(sub)
        if made is not None:
            return made
        sftp = self._sftp_client()
        path = f"{self._home}/.cmlinfra"
        for part in (path, f"{path}/{sub}"):
            with contextlib.suppress(OSError):
                sftp.mkdir(part, mode=0o700)
            sftp.chmod(part, 0o700)
        self._private[sub] = f"{path}/{sub}"
        return self._private[sub]

    def put_file(self, data: bytes, path: str, mode: int = 0o644) -> str:
        with self._wire(f"uploading {path}"):
            sftp = self._sftp_client()
            remote = f"{self._private_dir('bootstrap')}/{path}"
            with sftp.open(remote, "wb") as handle:
                handle.write(data)
            sftp.chmod(remote, mode)
        return remote

    def get_file(self, path: str) -> bytes:
        with self._wire(f"downloading {path}"), self._sftp_client().open(path, "rb") as handle:
            return bytes(handle.read())

    def put_secret(self, secret: Secret, path: str) -> None:
        """Stage the value over SFTP in a 0700 directory as a 0600 file, then move it into
        place as root: ``install`` into a temporary name next to ``path`` and ``rename``."""
        if not path.startswith("/"):
            raise UsageError(f"secret path {path!r} is not absolute", "give an absolute path")
        with self._wire("uploading a secret"):
            sftp = self._sftp_client()
            staged = f"{self._private_dir('stage')}/{uuid.uuid4().hex}"
        try:
            with self._wire("uploading a secret"), sftp.open(staged, "wbx") as handle:
                handle.chmod(0o600)
                handle.write(secret.reveal().encode())
            dest, tmp = shlex.quote(path), shlex.quote(f"{path}.partial-{uuid.uuid4().hex[:8]}")
            script = (
                f'umask 077; mkdir -p -- "$(dirname -- {dest})" && '
                f"install -m 0600 -o root -g root -- {shlex.quote(staged)} {tmp} && "
                f"mv -f -- {tmp} {dest} || {{ rm -f -- {tmp}; exit 1; }}"
            )
            result = self.run(script, timeout=60)
            if result.exit_code != 0:
                raise CmlinfraError(
                    f"{self.name}: writing the secret file {path} failed "
                    f"(exit {result.exit_code}: {' '.join(result.tail[-1:])})",
                    "check that the directory is writable by root",
                )
        finally:
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                sftp.remove(staged)

    def forward(self, remote_port: int, local_port: int = 0) -> Forward:
        """Forward ``127.0.0.1:local_port`` here to the machine's ``127.0.0.1:remote_port``
        over this connection (``ssh -L``); ``close()`` it when done."""
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise ConnectionLost(f"connection to {self.name} is closed", "re-run to resume")
        return Forward(transport, remote_port, local_port)

    # -- lifecycle --------------------------------------------------------------------------

    def reboot(self, deadline: float) -> None:
        """Reboot and reconnect. The marker in /run tells the old boot from the new one
        (boot_id would not change in a container)."""
        self._say(f"{self.name}: rebooting")
        with contextlib.suppress(ConnectionLost, StepTimeout):
            self.run(
                f"touch {REBOOT_MARKER} && (systemctl reboot || reboot) </dev/null >/dev/null 2>&1",
                timeout=60,
            )
        self.close()
        while True:
            self._client = open_client(self.target, self._pkey, deadline, self._say)
            with contextlib.suppress(ConnectionLost):
                if self.run(f"test ! -e {REBOOT_MARKER}", timeout=30).exit_code == 0:
                    self._say(f"{self.name}: back after reboot")
                    return
            self.close()
            if time.monotonic() > deadline:
                raise Unreachable(f"{self.name} did not come back from its reboot in time")
            time.sleep(2)  # the old boot is still shutting down; poll again

    def close(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        self._private.clear()
        self._client.close()

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
