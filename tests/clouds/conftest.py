"""Local stand-ins for the internet services the public clouds ask: an address echo service on
loopback (what checkip.amazonaws.com answers) and a closed loopback port (a dead endpoint)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clouds.echo import EchoServer, running
from tests.fixtures.moto import free_port


@pytest.fixture
def echo_ip() -> Iterator[EchoServer]:
    with running() as echo:
        yield echo


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"
