"""The paramiko implementation of :class:`~cmlinfra.bootstrap.transport.Transport`.

New instances take tens of seconds to answer SSH, so :func:`connect` waits with backoff up to a
deadline; host keys are verified (see :mod:`cmlinfra.bootstrap.hostkeys`); every command runs as
root through non-interactive ``sudo`` for other users, under a remote ``timeout`` as well as a
local deadline, with its output streamed line by line.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from cmlinfra.bootstrap.hostkeys import ExpectedHostKeys, mismatch
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
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SshTarget:
    """One host to bootstrap: where, as whom, with which key, and which host key to expect."""

    host: str
    user: str
    key: Path  # the stack's private key
    port: int = 22
    host_keys: tuple[str, ...] = ()  # OpenSSH public key lines
    fingerprints: tuple[str, ...] = ()  # SHA256:...
    known_hosts: Path | None = None
    name: str = ""  # for output; the host by default

    @property
    def label(self) -> str:
        return self.name or self.host

    def expected(self) -> ExpectedHostKeys:
        return ExpectedHostKeys(
            self.host, self.port, self.host_keys, self.fingerprints, self.known_hosts
        )


def _load_key(path: Path) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError as exc:
        raise UsageError(
            f"SSH key {path} does not exist", "pass the stack's key with --key"
        ) from exc
    except paramiko.PasswordRequiredException as exc:
        raise UsageError(
            f"SSH key {path} is encrypted", "use an unencrypted key (the stack's key is)"
        ) from exc
    except (OSError, ValueError, paramiko.SSHException) as exc:
        raise UsageError(
            f"cannot read SSH key {path}: {exc}", "pass an OpenSSH private key"
        ) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, paramiko.AuthenticationException):
        return "key not accepted yet"
    if isinstance(exc, ConnectionRefusedError | paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return " ".join(str(exc).split()) or type(exc).__name__


def _open_client(target: SshTarget, pkey: paramiko.PKey, deadline: float, say: Progress):
    """A connected, authenticated client; retries with backoff until ``deadline``
    (monotonic). A host key mismatch is never retried."""
    delay, attempt, auth_failures = 1.0, 0, 0
    expected = target.expected()
    while True:
        attempt += 1
        client = paramiko.SSHClient()
        expected.install(client)
        try:
            client.connect(
                target.host,
                port=target.port,
                username=target.user,
                pkey=pkey,
                look_for_keys=False,
                allow_agent=False,
                timeout=min(10.0, max(1.0, deadline - time.monotonic())),
                banner_timeout=15,
                auth_timeout=15,
            )
            transport = client.get_transport()
            assert transport is not None
            transport.set_keepalive(15)
            if attempt > 1:
                say(f"SSH is up on {target.host}:{target.port} (attempt {attempt})")
            return client
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise mismatch(expected, exc.key) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            client.close()
            auth_failures += isinstance(exc, paramiko.AuthenticationException)
            reason = _reason(exc)
            # cloud-init may install the key a moment after sshd starts; not forever
            if auth_failures >= 3 or time.monotonic() + delay > deadline:
                raise Unreachable(
                    f"SSH to {target.user}@{target.host}:{target.port} failed after "
                    f"{attempt} attempts: {reason}",
                    "check that the host is up, the port is open to this machine and "
                    f"{target.key} is authorized for {target.user} (or raise --wait)",
                ) from None
            say(f"waiting for SSH on {target.host}:{target.port} ({reason}); retry in {delay:.0f}s")
            time.sleep(delay)  # backoff between attempts, not synchronisation
            delay = min(delay * 2, 10.0)


def connect(target: SshTarget, *, wait: float = 300.0, say: Progress | None = None) -> SshTransport:
    """Wait up to ``wait`` seconds for SSH, verify the host key, log in with the key and check
    that root is reachable (``sudo -n`` for a non-root user)."""
    pkey = _load_key(target.key)
    say = say or (lambda _message: None)
    client = _open_client(target, pkey, time.monotonic() + wait, say)
    ssh = SshTransport(target, client, pkey, say)
    ssh.check_root()
    return ssh


class SshTransport:
    """A live SSH connection to one host (not thread-safe: one per host and thread)."""

    def __init__(
        self, target: SshTarget, client: paramiko.SSHClient, pkey: paramiko.PKey, say: Progress
    ) -> None:
        self.target = target
        self.name = target.label
        self._client = client
        self._pkey = pkey
        self._say = say
        self._sftp: paramiko.SFTPClient | None = None
        self._home: str | None = None

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
                f"connection to {self.name} lost: {_reason(exc)}", "re-run to resume"
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

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = self._client.open_sftp()
            self._home = self._sftp.normalize(".")
        return self._sftp

    def _private_dir(self, sub: str) -> str:
        sftp = self._sftp_client()
        path = f"{self._home}/.cmlinfra"
        for part in (path, f"{path}/{sub}"):
            with contextlib.suppress(OSError):
                sftp.mkdir(part, mode=0o700)
            sftp.chmod(part, 0o700)
        return f"{path}/{sub}"

    def put_file(self, data: bytes, path: str, mode: int = 0o644) -> str:
        sftp = self._sftp_client()
        remote = f"{self._private_dir('bootstrap')}/{path}"
        with sftp.open(remote, "wb") as handle:
            handle.write(data)
        sftp.chmod(remote, mode)
        return remote

    def put_secret(self, secret: Secret, path: str) -> None:
        """Stage the value over SFTP in a 0700 directory as a 0600 file, then move it into
        place as root: ``install`` into a temporary name next to ``path`` and ``rename``."""
        if not path.startswith("/"):
            raise UsageError(f"secret path {path!r} is not absolute", "give an absolute path")
        sftp = self._sftp_client()
        staged = f"{self._private_dir('stage')}/{uuid.uuid4().hex}"
        try:
            with sftp.open(staged, "wbx") as handle:
                handle.chmod(0o600)
                handle.write(secret.reveal().encode())
            dest, tmp = shlex.quote(path), shlex.quote(f"{path}.partial-{uuid.uuid4().hex[:8]}")
            script = (
                f'umask 077; mkdir -p -- "$(dirname -- {dest})" && '
                f"install -m 0600 -o root -g root -- {shlex.quote(staged)} {tmp} && "
                f"mv -f -- {tmp} {dest}"
            )
            result = self.run(script, timeout=60)
            if result.exit_code != 0:
                raise CmlinfraError(
                    f"{self.name}: writing the secret file {path} failed "
                    f"(exit {result.exit_code}: {' '.join(result.tail[-1:])})",
                    "check that the directory is writable by root",
                )
        finally:
            with contextlib.suppress(OSError):
                sftp.remove(staged)

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
            self._client = _open_client(self.target, self._pkey, deadline, self._say)
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
        self._client.close()

    def __enter__(self) -> SshTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
