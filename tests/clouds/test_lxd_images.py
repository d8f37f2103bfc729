"""The LXD image store waits on LXD's asynchronous operations for as long as they take: a clean
stop of a builder with Docker running, or publishing a large image, can take longer than the
socket's default 10 s timeout (seen: ``image bake`` failing "LXD is not reachable (timed out)"
while stopping its builder on a loaded machine)."""

from __future__ import annotations

import subprocess

import pytest

from cmlinfra.clouds.lxd.api import LxdApi
from cmlinfra.clouds.lxd.catalog import DEFAULT_IMAGE
from cmlinfra.clouds.lxd.images import _call
from tests.fixtures.lxd import LocalCloud


@pytest.mark.lxd
def test_an_operation_longer_than_the_socket_timeout_is_waited_for(lxd: LocalCloud) -> None:
    name = lxd.name("slowop")
    launched = subprocess.run(["lxc", "launch", DEFAULT_IMAGE, name], capture_output=True)
    assert launched.returncode == 0, launched.stderr
    try:
        api = LxdApi(timeout=3.0)  # the operation below outlasts it several times
        body = {"command": ["sleep", "8"], "wait-for-websocket": False, "interactive": False}
        done = _call(api, "POST", f"/1.0/instances/{name}/exec", body, wait=60)
        assert done.get("return") == 0
    finally:
        subprocess.run(["lxc", "delete", "--force", name], capture_output=True)
