"""The seam between "run this on the host" and how it gets there.

Runner and lifecycle code depend on :class:`Transport`, not on paramiko, so they can be tested
against any host that runs commands and takes files, and so the bootstrap never learns where a
machine came from (cloud, forge): it gets an address, a user, a key and the expected host key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class CommandResult:
    """What one remote command did: its exit status, its last output lines, how long it ran."""

    exit_code: int
    tail: tuple[str, ...]
    seconds: float
    skipped: bool = False  # the command printed a ``skip: ...`` line (idempotent no-op)


@runtime_checkable
class Transport(Protocol):
    """A connected host. Commands run as root (``sudo -n`` for other users)."""

    name: str

    def run(
        self, command: str, *, timeout: float, on_line: LineSink | None = None
    ) -> CommandResult:
        """Run ``command`` as root with output streamed line by line to ``on_line``; raise
        :class:`StepTimeout` past ``timeout`` seconds and :class:`ConnectionLost` when the
        connection drops. A non-zero exit is returned, not raised."""
        ...

    def put_file(self, data: bytes, path: str, mode: int = 0o644) -> str:
        """Upload non-secret ``data`` under the login user's bootstrap directory (relative
        ``path``) and return the remote path."""
        ...

    def get_file(self, path: str) -> bytes:
        """The bytes of the remote file ``path`` (artifacts coming back)."""
        ...

    def put_secret(self, secret: Secret, path: str) -> None:
        """Write ``secret`` to absolute ``path`` as a root-only (0600) file, atomically, without
        the value ever appearing on a command line or in output."""
        ...

    def reboot(self, deadline: float) -> None:
        """Reboot the host and return once it accepts SSH again (``deadline`` is monotonic)."""
        ...

    def close(self) -> None: ...


class SshError(CmlinfraError):
    """Base for SSH failures the user can act on."""


class HostKeyMismatch(SshError):
    """The host presented a key other than the one we were told to expect."""


class Unreachable(SshError):
    """SSH did not answer (or refused our key) before the deadline."""


class ConnectionLost(SshError):
    """The connection dropped in the middle of a command."""


class StepTimeout(SshError):
    """A command ran past its timeout."""
