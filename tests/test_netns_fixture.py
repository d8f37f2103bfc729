"""The namespace test hosts survive what a killed earlier run leaves behind (CI failed on it:
a leftover veth held 10.146.23.225/30 and a new host on the same /30 was unreachable)."""

from __future__ import annotations

import subprocess

from tests.fixtures import netns
from tests.fixtures.sshd import SshdFactory


def _dead_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _leftover(slot: int, owner: int | None) -> str:
    """A namespace as a killed run leaves it: veth up, address held, no process inside."""
    name = f"{netns.NAME_PREFIX}zz{slot:04d}"
    netns.OWNERS.mkdir(mode=0o700, exist_ok=True)
    if owner is not None:
        (netns.OWNERS / name).write_text(str(owner))
    for args in (
        ["netns", "add", name],
        ["link", "add", f"{name}-h", "type", "veth", "peer", "name", f"{name}-n"],
        ["link", "set", f"{name}-n", "netns", name],
        ["addr", "add", f"{netns.PREFIX}.{slot * 4 + 1}/30", "dev", f"{name}-h"],
        ["link", "set", f"{name}-h", "up"],
    ):
        subprocess.run(["ip", *args], check=True, capture_output=True)
    return name


def _names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_a_dead_runs_namespaces_are_swept_and_the_new_host_answers(
    sshd_factory: SshdFactory,
) -> None:
    stale = [_leftover(0, _dead_pid()), _leftover(1, None)]
    try:
        host = sshd_factory(netns=True)
        assert not set(stale) & _names()
        done = subprocess.run(
            ["ssh", "-i", str(host.client_key), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
             f"root@{host.addr}", "true"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        for name in stale:
            netns.remove(name)


def test_an_address_held_by_a_live_owner_is_never_handed_out(
    sshd_factory: SshdFactory,
) -> None:
    import os

    held = _leftover(0, os.getpid())  # alive: must be kept, and its /30 skipped
    try:
        host = sshd_factory(netns=True)
        assert held in _names()
        assert host.addr != f"{netns.PREFIX}.2"
    finally:
        netns.remove(held)
