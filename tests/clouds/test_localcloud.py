"""scripts/localcloud.sh: shellcheck clean, idempotent, and status reports every part."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.fixtures.lxd import SCRIPT, LocalCloud, _script


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run scripts/setup.sh"
    done = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_usage_without_a_subcommand() -> None:
    done = _script()
    assert done.returncode == 2
    assert "localcloud.sh up" in done.stderr


@pytest.mark.lxd
def test_up_again_changes_nothing_and_status_is_complete(lxd: LocalCloud) -> None:
    again = _script("up")
    assert again.returncode == 0, again.stderr
    for part in ("daemon: already running", "already configured", "cached tarballs"):
        assert part in again.stderr
    assert "mirror up to date" in again.stderr
    assert "image: debootstrap" not in again.stderr  # built once, then cached
    status = _script("status")
    assert status.returncode == 0, status.stderr
    for part in ("daemon: running", "bridge cmlbr0 10.77.91.1/24", "image: cmlinfra-debian-12"):
        assert part in status.stderr
