"""A loopback TCP forwarder to the moto server that holds back one upload until released.

Terraform writes the state object while it holds the state lock, so holding that one ``PUT``
keeps a real apply — on any terraform version, with no resources at all — in the middle of its
locked section for as long as a test needs to look at the lock. Everything else (lock items,
reads, lockfiles) passes straight through; once released, the held bytes are forwarded as-is.

It can also lose the reply to a DynamoDB ``PutItem`` (``lose_lock_replies``) after moto has
done the write, as a network blip would, to reproduce terraform waiting on its own lock.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from urllib.parse import urlsplit


class S3Gate:
    def __init__(self, upstream: str, bucket: str, key: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._pattern = re.compile(rb"^PUT /" + re.escape(f"{bucket}/{key}".encode()) + rb"[ ?]")
        self.lose_lock_replies = 0  # how many DynamoDB PutItem replies to drop (see _pump)
        self.lost = threading.Event()
        self.held = threading.Event()  # a state upload is being held back
        self._released = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._released.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            drop_reply = threading.Event()  # set: the next reply on this connection is lost
            for args in ((client, upstream, True), (upstream, client, False)):
                pump = threading.Thread(target=self._pump, args=(*args, drop_reply), daemon=True)
                pump.start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, requests: bool, drop_reply: threading.Event
    ) -> None:
        try:
            while data := src.recv(65536):
                if requests and not self._released.is_set() and self._pattern.match(data):
                    self.held.set()
                    self._released.wait(120)
                if requests and self.lose_lock_replies and b"DynamoDB_20120810.PutItem" in data:
                    self.lose_lock_replies -= 1
                    drop_reply.set()
                if not requests and drop_reply.is_set():
                    # The lock item is written, but its reply never arrives: what a network
                    # blip does. The client retries the PutItem on a new connection.
                    self.lost.set()
                    for sock in (src, dst):
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
