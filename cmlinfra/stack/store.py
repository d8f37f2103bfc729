"""Stack working directories: ``$CMLINFRA_HOME/stacks/<name>/``.

Each stack keeps, side by side, what is needed to reach and to remove it later, from another
process or after a crash: its own ed25519 SSH key pair (the private key 0600 and never
printed), ``metadata.json`` (cloud, resolved machine, timestamps, terraform binary, state URL)
and ``terraform/`` (the synthesized configuration and, with the local backend, the state).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.clouds.validate import stack_name
from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret

KEY_FILE = "id_ed25519"


def home() -> Path:
    """``$CMLINFRA_HOME``, else ``$XDG_STATE_HOME/cmlinfra``, else ``~/.local/state/cmlinfra``."""
    if os.environ.get("CMLINFRA_HOME"):
        return Path(os.environ["CMLINFRA_HOME"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cmlinfra"


def _generate_key_pair(comment: str) -> tuple[bytes, str]:
    """(OpenSSH private key PEM, public key line) for a fresh ed25519 key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, f"{public.decode()} {comment}"


@dataclass(frozen=True)
class StackDir:
    """One stack's directory (which may not exist yet)."""

    name: str
    root: Path

    @property
    def workdir(self) -> Path:
        return self.root / "terraform"

    @property
    def key_path(self) -> Path:
        return self.root / KEY_FILE

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata.json"

    def exists(self) -> bool:
        return self.metadata_path.is_file()

    def create(self) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.root.chmod(0o700)
        except OSError as exc:
            raise CmlinfraError(
                f"cannot create the stack directory {self.root}: {exc.strerror or exc}",
                "set CMLINFRA_HOME (or XDG_STATE_HOME) to a directory you can write",
            ) from None

    def ensure_key(self) -> str:
        """The stack's public key line, generating the pair on first use."""
        public_path = self.key_path.with_suffix(".pub")
        if not self.key_path.exists():
            private, public = _generate_key_pair(f"cmlinfra-{self.name}")
            fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(private)
            public_path.write_text(public + "\n")
        return public_path.read_text().strip()

    def import_key(self, private_key_file: Path) -> str:
        """Use an existing private key (the ssh cloud's machine already trusts it)."""
        import paramiko

        try:
            key = paramiko.PKey.from_path(private_key_file)
        except (OSError, ValueError, paramiko.SSHException) as exc:
            raise CmlinfraError(
                f"cannot read the SSH private key {private_key_file}",
                "give an unencrypted OpenSSH private key file",
            ) from exc
        fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private_key_file.read_bytes())
        public = f"{key.get_name()} {key.get_base64()} cmlinfra-{self.name}"
        self.key_path.with_suffix(".pub").write_text(public + "\n")
        return public

    def private_key(self) -> Secret:
        """The private key, wrapped: only an SSH client should ever reveal it."""
        return Secret(self.key_path.read_text())

    def read_metadata(self) -> dict[str, Any]:
        if not self.exists():
            raise CmlinfraError(
                f"no stack named {self.name!r} in {self.root.parent}",
                "list them with 'cmlinfra stack show', or check CMLINFRA_HOME",
            )
        return dict(json.loads(self.metadata_path.read_text()))

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        tmp = self.metadata_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")
        tmp.replace(self.metadata_path)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def stack_dir(name: str, root: Path | None = None) -> StackDir:
    """The directory of stack ``name`` (validated: it becomes a hostname)."""
    return StackDir(stack_name(name), (root or home()) / "stacks" / name)


def list_stacks(root: Path | None = None) -> list[str]:
    base = (root or home()) / "stacks"
    return sorted(p.parent.name for p in base.glob("*/metadata.json"))
