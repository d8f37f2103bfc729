"""A loopback stand-in for the "what is my IP" service (checkip.amazonaws.com) that every
public cloud asks for the launcher's address, so the SSH rule admits only the launcher.

The fixtures that start it are in tests/clouds/conftest.py; tests import :class:`EchoServer`
from here to change its answer (an IPv6 address, garbage) or count its requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


@contextmanager
def running() -> Iterator[EchoServer]:
    """An echo service serving on a thread until the block ends."""
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
