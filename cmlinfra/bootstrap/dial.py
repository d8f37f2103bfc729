"""Reaching a host: who and where (:class:`SshTarget`), and a connected, authenticated,
host-key-verified paramiko client, retried with backoff while a new machine boots.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from cmlinfra.bootstrap.hostkeys import ExpectedHostKeys, mismatch
from cmlinfra.bootstrap.transport import Unreachable
from cmlinfra.errors import UsageError

Progress = Callable[[str], None]
MAX_RETRY_GAP = 3.0  # seconds between SSH attempts, at most (see open_client)


@dataclass(frozen=True)
class SshTarget:
    """One host to bootstrap: where, as whom, with which key, and which host key to expect."""

    host: str
    user: str
    key: Path | None  # the stack's private key; None: the agent, then ~/.ssh/id_* (as ssh)
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


def load_key(path: Path | None) -> paramiko.PKey | None:
    """The key at ``path``; None (no key given) lets paramiko find one as OpenSSH does."""
    if path is None:
        return None
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


def reason(exc: BaseException) -> str:
    if isinstance(exc, paramiko.AuthenticationException):
        return "key not accepted yet"
    if isinstance(exc, ConnectionRefusedError | paramiko.ssh_exception.NoValidConnectionsError):
        return "connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return " ".join(str(exc).split()) or type(exc).__name__


def open_client(
    target: SshTarget, pkey: paramiko.PKey | None, deadline: float, say: Progress
) -> paramiko.SSHClient:
    """A connected, authenticated client; retries with backoff until ``deadline``
    (monotonic). A host key mismatch is never retried.

    The first retries are 0.25 s apart: a machine whose host key was just read is a moment
    away from sshd listening, and a 1 s first step was most of the wait on a local container.
    Retries are at most 3 s apart: a cloud machine answers 20-60 s after it was created, and
    each second of the gap between sshd starting and the next try is paid in full (a 10 s cap
    cost 5 s per launch on average). A refused key backs off from 1 s, so the key has the
    same ≥ 3 s to arrive as before."""
    delay, attempt, auth_failures = 0.25, 0, 0
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
                # no key given: the SSH agent, then ~/.ssh/id_{rsa,ecdsa,ed25519} (as ssh does)
                look_for_keys=pkey is None,
                allow_agent=pkey is None,
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
            if isinstance(exc, paramiko.AuthenticationException):
                auth_failures, delay = auth_failures + 1, max(delay, 1.0)
            why = reason(exc)
            # cloud-init may install the key a moment after sshd starts; not forever
            if auth_failures >= 3 or time.monotonic() + delay > deadline:
                raise Unreachable(
                    f"SSH to {target.user}@{target.host}:{target.port} failed after "
                    f"{attempt} attempt{'' if attempt == 1 else 's'}: {why}",
                    "check that the host is up, the port is open to this machine and "
                    f"{target.key or 'your SSH key'} is authorized for {target.user} (or raise "
                    "--wait)",
                ) from None
            say(f"waiting for SSH on {target.host}:{target.port} ({why}); retry in {delay:.2g}s")
            time.sleep(delay)  # backoff between attempts, not synchronisation
            delay = min(delay * 2, MAX_RETRY_GAP)
