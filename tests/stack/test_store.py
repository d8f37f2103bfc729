"""Stack directories: the key pair (0600, a Secret), metadata, removal."""

from __future__ import annotations

import stat
from pathlib import Path

import paramiko
import pytest

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.secrets import Secret
from cmlinfra.stack.store import home, list_stacks, stack_dir


def test_home_follows_the_environment(cmlinfra_home: Path) -> None:
    assert home() == cmlinfra_home


def test_key_pair_is_private_and_stable(cmlinfra_home: Path) -> None:
    target = stack_dir("cmlt-key")
    target.create()
    public = target.ensure_key()
    assert public.startswith("ssh-ed25519 ") and public.endswith(" cmlinfra-cmlt-key")
    assert stat.S_IMODE(target.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.root.stat().st_mode) == 0o700
    assert target.ensure_key() == public  # not regenerated
    secret = target.private_key()
    assert isinstance(secret, Secret) and "PRIVATE" not in repr(secret)
    loaded = paramiko.Ed25519Key.from_private_key_file(str(target.key_path))
    assert public.split()[1] == loaded.get_base64()


def test_import_key(cmlinfra_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "id"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(source))
    target = stack_dir("cmlt-imported")
    target.create()
    public = target.import_key(source)
    assert public.startswith("ssh-rsa ")
    assert stat.S_IMODE(target.key_path.stat().st_mode) == 0o600
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(CmlinfraError, match="cannot read the SSH private key"):
        target.import_key(tmp_path / "junk")


def test_metadata_round_trip_and_removal(cmlinfra_home: Path) -> None:
    target = stack_dir("cmlt-meta")
    with pytest.raises(CmlinfraError, match="no stack named"):
        target.read_metadata()
    target.create()
    target.write_metadata({"cloud": "lxd", "created": 1.5})
    assert target.read_metadata() == {"cloud": "lxd", "created": 1.5}
    assert list_stacks() == ["cmlt-meta"]
    target.remove()
    assert not target.root.exists() and list_stacks() == []


@pytest.mark.parametrize("name", ["UPPER", "a", "-x", "x_y", "x" * 64, "../etc"])
def test_names_must_be_hostnames(name: str, cmlinfra_home: Path) -> None:
    with pytest.raises(UsageError, match="not a valid hostname"):
        stack_dir(name)
