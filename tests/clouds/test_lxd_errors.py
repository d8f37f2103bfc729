"""LXD's quota refusals, produced live: a project of our own with ``limits.containers=0``
refuses the container (nothing is created), and the classification reads it as a quota."""

from __future__ import annotations

import subprocess

import pytest

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.lxd.catalog import DEFAULT_IMAGE
from cmlinfra.clouds.lxd.errors import classify_error
from tests.fixtures.lxd import LocalCloud


def _lxc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["lxc", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.lxd
def test_a_project_limit_is_a_quota(lxd: LocalCloud) -> None:
    project = lxd.name("quota")
    created = _lxc(
        "project", "create", project, "-c", "limits.containers=0",
        "-c", "features.images=false", "-c", "features.profiles=false",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    try:
        refused = _lxc("init", DEFAULT_IMAGE, lxd.name("q"), "--project", project)
        assert refused.returncode != 0
        assert "Reached maximum number of instances" in refused.stderr
        assert classify_error(refused.stderr) == ErrorKind.QUOTA
    finally:
        _lxc("project", "delete", project)
