"""Helpers for the lifecycle tests on the real local LXD cloud (scripts/localcloud.sh up)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IMAGE = "cmlinfra-debian-12"
PREFIX = "lct-"  # every container these tests create (other suites sweep "cmlt-*" as they run)


def lxc(*args: str, input: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["lxc", *args], input=input, capture_output=True, text=True, timeout=300, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"lxc {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


SEARCHED = ("/etc", "/var", "/root", "/home", "/opt", "/usr/local", "/tmp", "/run")


def files_holding(name: str, text: str, folders: tuple[str, ...] = SEARCHED) -> list[str]:
    """The files under ``folders`` of container ``name`` that contain ``text`` verbatim.

    ``-e`` keeps a secret that starts with ``-`` (``token_urlsafe`` draws one in 64) a pattern
    rather than an option, and grep's own failure fails the caller: an empty answer must mean
    "found nowhere", never "grep refused to look".
    """
    result = subprocess.run(
        ["lxc", "exec", name, "--", "grep", "-rlF", "-e", text, "--", *folders],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode not in (0, 1):  # 1: no file holds it
        raise AssertionError(f"grep in {name} failed ({result.returncode}): {result.stderr}")
    return result.stdout.split()


def containers(prefix: str = PREFIX) -> list[str]:
    listing = json.loads(lxc("list", "--format", "json"))
    return sorted(c["name"] for c in listing if c["name"].startswith(prefix))


def running(prefix: str = PREFIX) -> list[str]:
    """Containers of this prefix that LXD reports as running (booting counts)."""
    listing = json.loads(lxc("list", "--format", "json"))
    return sorted(
        c["name"] for c in listing if c["name"].startswith(prefix) and c["status"] == "Running"
    )


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


@dataclass
class Lifecycle:
    """One test's world: a forge, a registry, a stack home, and the CLI wired to them."""

    forge: Any  # tests.forge_server.core.ForgeServer
    state: str
    home: Path
    prefix: str
    extra_env: dict[str, str]

    def env(self) -> dict[str, str]:
        return {
            "CMLINFRA_HOME": str(self.home),
            "CMLINFRA_AGENT_STANDIN": "1",
            **self.extra_env,
        }

    def forge_args(self, driver: str = "github") -> list[str]:
        repo = "acme/ml"
        return [
            "--driver",
            driver,
            "--repo",
            f"{self.forge.url}/{repo}",
            "--token",
            self.forge.token,
        ]

    def launch_args(self, name: str, *extra: str, driver: str = "github") -> list[str]:
        return [
            "--json",
            "runner",
            "launch",
            "--cloud",
            "lxd",
            "--name",
            name,
            "--state",
            self.state,
            "--bootstrap-steps",
            "detect",
            "--watchdog-interval",
            "2",
            *self.forge_args(driver),
            *extra,
        ]

    def gc_args(self, *extra: str, driver: str = "github") -> list[str]:
        return [
            "--json",
            "gc",
            "--state",
            self.state,
            "--cloud",
            "lxd",
            "--prefix",
            self.prefix,
            "--lock-max-age",
            "1h",
            *self.forge_args(driver),
            *extra,
        ]

    def popen(self, *args: str) -> subprocess.Popen[str]:
        from tests.fixtures.cli import cli_env

        return subprocess.Popen(
            [sys.executable, "-m", "cmlinfra", *args],
            env=cli_env(self.env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def kill_job(self, proc: subprocess.Popen[str]) -> None:
        """SIGKILL a launcher the way a cancelled CI job dies: its process group, and every
        process it left with a working directory in this test's home. Terraform starts its
        providers in process groups of their own, so killing the launcher's group alone leaves
        terraform-provider-lxd running forever; a CI runner kills the job's whole tree."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        home = str(self.home)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd == home or cwd.startswith(home + os.sep):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)

    def runners(self, driver: str = "github") -> list[str]:
        repo = self.forge.state.repo(driver, "acme/ml")
        return sorted(r.name for r in repo.runners.values())


@pytest.fixture
def lifecycle(lxd_prefix: str, tmp_path: Path, forge: Any) -> Lifecycle:
    """The shared fake forge (reset; checked against the OpenAPI descriptions after the
    test) with one GitHub and one GitLab repository."""
    for driver in ("github", "gitlab"):
        forge.state.add_repo(driver, "acme/ml")
    return Lifecycle(forge, str(tmp_path / "state"), tmp_path / "home", lxd_prefix, {})
