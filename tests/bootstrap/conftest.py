"""Fixtures of this folder: throwaway login users (with and without passwordless sudo) and
the local LXD cloud's containers (``tests/bootstrap/lxd_hosts.py``)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bootstrap.lxd_hosts import lxd_hosts  # fixture for this folder

__all__ = ["lxd_hosts"]


def _add_user(sudo: bool) -> Iterator[str]:
    name = f"cmlb{uuid.uuid4().hex[:8]}"
    sudoers = Path(f"/etc/sudoers.d/{name}")
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    # "*": no password, but not locked (sshd without PAM refuses locked accounts)
    subprocess.run(["usermod", "-p", "*", name], check=True)
    try:
        if sudo:
            sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
            sudoers.chmod(0o440)
        yield name
    finally:
        sudoers.unlink(missing_ok=True)
        subprocess.run(["userdel", "--force", "--remove", name], check=False, capture_output=True)


@pytest.fixture
def sudo_user() -> Iterator[str]:
    """A user allowed ``sudo`` without a password; removed (home too) after the test."""
    yield from _add_user(sudo=True)


@pytest.fixture
def plain_user() -> Iterator[str]:
    """A user without sudo rights."""
    yield from _add_user(sudo=False)
