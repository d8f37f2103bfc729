"""Which host keys a machine may present, and the check paramiko runs against them.

Trust on first use is how tokens leak to a machine in the middle, so there is no
``AutoAddPolicy`` here: a host must present a key we were given (OpenSSH public key lines from
the cloud's trusted channel, a ``SHA256:`` fingerprint, or a ``known_hosts`` file) or the
connection is refused with both fingerprints on one line.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.pkey import UnknownKeyType

from cmlinfra.bootstrap.transport import HostKeyMismatch
from cmlinfra.errors import UsageError


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:`` fingerprint of a public key (what ``ssh-keygen -lf`` prints)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_key_line(line: str) -> paramiko.PKey:
    """A public key from an OpenSSH line (``ssh-ed25519 AAAA... comment``)."""
    parts = line.split()
    try:
        keytype, blob = parts[0], parts[1]
        key = paramiko.PKey.from_type_string(keytype, base64.b64decode(blob))
    except (IndexError, ValueError, paramiko.SSHException, UnknownKeyType) as exc:
        raise UsageError(
            f"{line[:40]!r} is not an OpenSSH public key line",
            "give lines like 'ssh-ed25519 AAAA...' (the host's /etc/ssh/ssh_host_*_key.pub)",
        ) from exc
    return key


def normalize_fingerprint(value: str) -> str:
    """``SHA256:abc=`` / ``abc`` → ``SHA256:abc`` (ssh-keygen omits the base64 padding)."""
    text = value.strip()
    if text.upper().startswith("SHA256:"):
        text = text[len("SHA256:") :]
    text = text.rstrip("=")
    try:
        if len(base64.b64decode(text + "=" * (-len(text) % 4))) != 32:
            raise ValueError
    except ValueError as exc:
        raise UsageError(
            f"{value!r} is not a SHA256 host key fingerprint",
            "copy it from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host",
        ) from exc
    return "SHA256:" + text


def lookup_name(host: str, port: int) -> str:
    """The name OpenSSH and paramiko file a host under in known_hosts."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class ExpectedHostKeys:
    """Everything we were told about one host's keys."""

    host: str
    port: int
    key_lines: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    known_hosts: Path | None = None

    def keys(self) -> list[paramiko.PKey]:
        keys = [parse_key_line(line) for line in self.key_lines if line.strip()]
        if self.known_hosts is not None and self.known_hosts.exists():
            store = paramiko.HostKeys(str(self.known_hosts))
            found = store.lookup(lookup_name(self.host, self.port))  # hashed names too
            if found is not None:
                keys.extend(found[t] for t in found)
        return keys

    def allowed(self) -> set[str]:
        """The fingerprints the host may present."""
        prints = {normalize_fingerprint(f) for f in self.fingerprints}
        return prints | {fingerprint(k) for k in self.keys()}

    def source(self) -> str:
        sources = []
        if self.key_lines:
            sources.append("the stack's host keys")
        if self.fingerprints:
            sources.append("--host-key-fingerprint")
        if self.known_hosts is not None:
            sources.append(str(self.known_hosts))
        return " and ".join(sources) or "nothing"

    def install(self, client: paramiko.SSHClient) -> None:
        """Make ``client`` verify the host against these keys and nothing else."""
        store = client.get_host_keys()
        name = lookup_name(self.host, self.port)
        for key in self.keys():
            store.add(name, key.get_name(), key)  # also makes paramiko ask for this key type
        client.set_missing_host_key_policy(_VerifyPolicy(self))


class _VerifyPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when the presented key's type is not in the client's store: accept
    only a fingerprint we were given, never add anything."""

    def __init__(self, expected: ExpectedHostKeys) -> None:
        self.expected = expected

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if fingerprint(key) in self.expected.allowed():
            return
        raise mismatch(self.expected, key)


def mismatch(expected: ExpectedHostKeys, presented: paramiko.PKey) -> HostKeyMismatch:
    """The one-line refusal: what we expected, what the host presented, what to do."""
    allowed = sorted(expected.allowed())
    where = lookup_name(expected.host, expected.port)
    got = f"{presented.get_name()} {fingerprint(presented)}"
    if not allowed:
        return HostKeyMismatch(
            f"host key of {where} is unknown (presented {got}; nothing in {expected.source()})",
            "verify that fingerprint out of band, then pass --host-key-fingerprint "
            f"{fingerprint(presented)} or add the host to --known-hosts",
        )
    return HostKeyMismatch(
        f"host key of {where} does not match: expected {', '.join(allowed)} "
        f"(from {expected.source()}), presented {got}",
        "refusing to connect; the machine may have been replaced or intercepted — "
        "check the host key out of band before trusting it",
    )
