"""Local port forwarding over the live SSH connection (``ssh -L``), in-process.

``exec --tensorboard`` serves TensorBoard on the machine's loopback only; the person running
``exec`` reaches it through the SSH connection the launcher already holds: no port opened in the
security group, no second login, nothing listening beyond ``127.0.0.1`` on either end. Each local
connection becomes one ``direct-tcpip`` channel, pumped by a daemon thread.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from typing import Any

log = logging.getLogger("cmlinfra.bootstrap")


class Forward:
    """``127.0.0.1:local_port`` here → ``127.0.0.1:remote_port`` on the machine."""

    def __init__(self, transport: Any, remote_port: int, local_port: int = 0) -> None:
        self._transport = transport  # paramiko.Transport
        self.remote_port = remote_port
        self._server = socket.create_server(("127.0.0.1", local_port))
        self.local_port = int(self._server.getsockname()[1])
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="ssh-forward", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}/"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, peer = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client, peer), daemon=True).start()

    def _serve(self, client: socket.socket, peer: tuple[str, int]) -> None:
        try:
            channel = self._transport.open_channel(
                "direct-tcpip", ("127.0.0.1", self.remote_port), peer, timeout=15
            )
        except Exception as exc:  # the machine refused (nothing listening yet) or SSH is gone
            log.debug("forward to port %s failed: %s", self.remote_port, exc)
            client.close()
            return
        with contextlib.closing(client), contextlib.closing(channel):
            while not self._closed.is_set():
                ready, _, _ = select.select([client, channel], [], [], 0.5)
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        break
                    channel.sendall(data)
                if channel in ready:
                    data = channel.recv(65536)
                    if not data:
                        break
                    client.sendall(data)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.close()
