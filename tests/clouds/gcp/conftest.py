"""The address echo service (what checkip answers) for the GCP tests, as for AWS."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.clouds.aws.conftest import EchoServer


@pytest.fixture
def echo_ip() -> Iterator[EchoServer]:
    echo = EchoServer()
    thread = threading.Thread(
        target=echo.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield echo
    finally:
        echo.server.shutdown()
        echo.server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    from tests.fixtures.moto import free_port

    return f"http://127.0.0.1:{free_port()}"
