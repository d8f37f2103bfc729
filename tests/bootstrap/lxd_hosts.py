"""Containers of the local LXD cloud as bootstrap targets, driven with ``lxc`` directly (the
bootstrap knows nothing about clouds; these tests only need a real Debian machine to change).

The host key is read through LXD (``lxc exec``), the trusted channel a cloud would give us, and
the test's client key is pushed the same way. Containers are named with the session's prefix
from the shared ``lxd`` fixture (which brings the local cloud up) and are always deleted.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.lxd import LocalCloud
from tests.fixtures.sshd import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "cmlinfra-debian-12"  # built and imported by scripts/localcloud.sh


def lxc(*args: str, input: str | bytes | None = None) -> str:
    data = input.encode() if isinstance(input, str) else input
    out = subprocess.run(["lxc", *args], capture_output=True, input=data, timeout=300)
    if out.returncode != 0:
        raise AssertionError(f"lxc {' '.join(args)} failed: {out.stderr.decode().strip()}")
    return out.stdout.decode()


@dataclass
class LxdHost:
    name: str
    addr: str
    host_key_line: str
    client_key: Path

    def target(self, **kwargs):  # type: ignore[no-untyped-def]
        from cmlinfra.bootstrap.ssh import SshTarget

        kwargs.setdefault("host_keys", (self.host_key_line,))
        return SshTarget(host=self.addr, user="root", key=self.client_key, name=self.name, **kwargs)

    def exec(self, command: str) -> str:
        return lxc("exec", self.name, "--", "bash", "-c", command)

    def push(self, content: str | bytes, path: str, mode: str = "0755") -> None:
        lxc(
            "file",
            "push",
            "-",
            f"{self.name}{path}",
            "--mode",
            mode,
            "--create-dirs",
            input=content,
        )


def _ipv4(name: str) -> str:
    state = json.loads(lxc("list", name, "--format", "json"))[0].get("state") or {}
    for addr in (state.get("network") or {}).get("eth0", {}).get("addresses", []):
        if addr["family"] == "inet":
            return str(addr["address"])
    return ""


def launch(client_key: Path, label: str = "", prefix: str = "cmlt-") -> LxdHost:
    """A running container with sshd, our key authorized, and its host key read via LXD."""
    name = f"{prefix}boot-{label}{uuid.uuid4().hex[:6]}"
    lxc("launch", IMAGE, name, "-c", "security.nesting=true")
    try:
        wait_until(lambda: _ipv4(name), 60, f"an address for {name}")
        pub = Path(f"{client_key}.pub").read_text()
        lxc("file", "push", "-", f"{name}/root/.ssh/authorized_keys", "--mode", "0600",
            input=pub)  # fmt: skip

        def host_key() -> str:
            out = subprocess.run(
                ["lxc", "exec", name, "--", "cat", "/etc/ssh/ssh_host_ed25519_key.pub"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            return out.stdout.strip() if out.returncode == 0 else ""

        wait_until(host_key, 60, f"{name}'s host key")
        return LxdHost(name, _ipv4(name), host_key(), client_key)
    except BaseException:
        delete(name)
        raise


def delete(name: str) -> None:
    subprocess.run(["lxc", "delete", "--force", name], capture_output=True, timeout=120)


@pytest.fixture
def lxd_hosts(lxd: LocalCloud, ssh_client_key: Path) -> Iterator[Callable[..., LxdHost]]:
    """``make()`` → a fresh container host of the local cloud (``lxd`` fixture: brought up
    once, this session's name prefix); deleted after the test."""
    made: list[LxdHost] = []

    def make(label: str = "") -> LxdHost:
        host = launch(ssh_client_key, label, prefix=lxd.prefix)
        made.append(host)
        return host

    try:
        yield make
    finally:
        for host in made:
            delete(host.name)
