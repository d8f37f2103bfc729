"""Helpers for the lifecycle tests on the real local LXD cloud (scripts/localcloud.sh up)."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

IMAGE = "cmlinfra-debian-12"
PREFIX = "cmlt-lc-"  # every container these tests create; other suites use other names


def lxc(*args: str, input: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["lxc", *args], input=input, capture_output=True, text=True, timeout=300, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"lxc {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def containers(prefix: str = PREFIX) -> list[str]:
    listing = json.loads(lxc("list", "--format", "json"))
    return sorted(c["name"] for c in listing if c["name"].startswith(prefix))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def lxd_prefix() -> Iterator[str]:
    """A fresh name prefix for one test; whatever still carries it at the end is deleted (and
    the test has already failed if it asserted that nothing is left)."""
    ready = subprocess.run(["lxc", "query", "/1.0"], capture_output=True, timeout=30)
    assert ready.returncode == 0, "LXD is not running: run scripts/localcloud.sh up"
    prefix = f"{PREFIX}{secrets.token_hex(2)}-"
    yield prefix
    for name in containers(prefix):
        lxc("delete", "--force", name, check=False)
