"""Azure tests share the ARM fake (tests/fixtures/azure.py); here: an address echo service on
loopback (what the launcher asks for its public address) and SSH host-key text as cloud-init
prints it on the serial console."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clouds.echo import running

KEYS = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOc5mzB2xF5Wm0vJ1aEIMHkq4Xy3r9d0wEKj2yQ8Uq8a",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKey",
)
SERIAL_LOG = (
    "[    0.000000] Linux version 6.8.0-1017-azure\r\n"
    "cloud-init[901]: Cloud-init v. 24.1 running 'modules:final'\r\n"
    "-----BEGIN SSH HOST KEY KEYS-----\r\n"
    f"{KEYS[1]} root@cml-az\r\n"
    f"{KEYS[0]} root@cml-az\r\n"
    "-----END SSH HOST KEY KEYS-----\r\n"
    "cloud-init[901]: Cloud-init v. 24.1 finished\r\n"
)


@pytest.fixture
def echo_ip(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A loopback "what is my IP" service answering 203.0.113.9; $CMLINFRA_PUBLIC_IP_URL."""
    with running() as echo:
        monkeypatch.setenv("CMLINFRA_PUBLIC_IP_URL", echo.url)
        yield echo.url
