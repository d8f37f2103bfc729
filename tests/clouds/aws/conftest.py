"""Local stand-ins for the internet services the AWS cloud asks: an address echo service on
loopback (what checkip.amazonaws.com answers), and a closed loopback port (a dead endpoint)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fixtures.moto import MotoServer, free_port


class EchoServer:
    """Answers every GET with ``self.answer``, like an "what is my IP" service."""

    def __init__(self) -> None:
        self.answer = "203.0.113.9\n"
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                body = outer.answer.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"


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
    """A loopback URL nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def moto_read(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's moto server *without* a reset, for tests that only read: after each reset
    moto rebuilds a region's EC2 backend (images, instance types) on first use, 1-3 s here.
    Tests that create or delete anything use ``moto`` (a clean slate) instead."""
    for key, value in moto_server.env.items():
        monkeypatch.setenv(key, value)
    return moto_server
