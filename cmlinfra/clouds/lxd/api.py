"""A small client for LXD's REST API over its unix socket.

The socket is a trusted channel (root-only, local): reading a container's SSH host public key
through it is how the launcher learns which key the container must present, without ever
trusting the network on first use. The stdlib is enough for the handful of calls we make, so no
LXD client library is needed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cmlinfra.errors import CmlinfraError

FIX = "run scripts/localcloud.sh up"
T = TypeVar("T")


def socket_path() -> Path:
    """``LXD_SOCKET``, else ``$LXD_DIR/unix.socket``, else Debian's, else the snap's socket."""
    if os.environ.get("LXD_SOCKET"):
        return Path(os.environ["LXD_SOCKET"])
    if os.environ.get("LXD_DIR"):
        return Path(os.environ["LXD_DIR"]) / "unix.socket"
    for candidate in ("/var/lib/lxd/unix.socket", "/var/snap/lxd/common/lxd/unix.socket"):
        if Path(candidate).exists():
            return Path(candidate)
    return Path("/var/lib/lxd/unix.socket")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("lxd", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class LxdNotFound(Exception):
    """The object asked for does not exist (HTTP 404)."""


class LxdApi:
    """Synchronous calls to one LXD daemon."""

    def __init__(self, path: Path | None = None, timeout: float = 10.0, project: str = "") -> None:
        self.path = path or socket_path()
        self.timeout = timeout
        self.project = project  # "" or "default": LXD's default project

    def in_project(self, project: str) -> LxdApi:
        """The same daemon, with instance and image calls made in ``project``."""
        return LxdApi(self.path, self.timeout, project)

    def _scoped(self, url: str) -> str:
        """``url`` with ``?project=`` added for an instance or image call outside the default
        project (the API's own way to address a project)."""
        if self.project in ("", "default") or not url.startswith(("/1.0/instances", "/1.0/images")):
            return url
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}project={urllib.parse.quote(self.project)}"

    def _request(
        self, method: str, url: str, body: Any = None, timeout: float | None = None
    ) -> tuple[int, bytes]:
        conn = _UnixConnection(self.path, timeout or self.timeout)
        try:
            payload = json.dumps(body) if body is not None else None
            headers = {"Content-Type": "application/json"} if payload else {}
            conn.request(method, self._scoped(url), body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError as exc:
            raise CmlinfraError(
                f"LXD is not reachable at {self.path} ({exc.strerror or exc})", FIX
            ) from exc
        finally:
            conn.close()

    def get(self, url: str, timeout: float | None = None) -> Any:
        """The ``metadata`` of a JSON answer; :class:`LxdNotFound` on 404."""
        status, raw = self._request("GET", url, timeout=timeout)
        if status == 404:
            raise LxdNotFound(url)
        data = json.loads(raw or b"{}")
        if status >= 400:
            raise CmlinfraError(f"LXD refused GET {url}: {data.get('error', status)}")
        return data.get("metadata")

    def patch(self, url: str, body: dict[str, Any]) -> None:
        status, raw = self._request("PATCH", url, body)
        if status == 404:
            raise LxdNotFound(url)
        if status >= 400:
            error = json.loads(raw or b"{}").get("error", status)
            raise CmlinfraError(f"LXD refused PATCH {url}: {error}")

    def stop(self, name: str, timeout: int = 30) -> None:
        """Shut the instance down cleanly and wait for it (LXD's own stop, ≈ 1 s)."""
        url = f"/1.0/instances/{urllib.parse.quote(name)}/state"
        body = {"action": "stop", "timeout": timeout, "force": False}
        status, raw = self._request("PUT", url, body)
        data = json.loads(raw or b"{}")
        if status >= 400:
            raise CmlinfraError(f"LXD could not stop {name}: {data.get('error', status)}")
        operation = data.get("operation")
        if operation:
            self.get(f"{operation}/wait?timeout={timeout}", timeout=timeout + 10)

    def ping(self) -> dict[str, Any]:
        """Server info; raises ``CmlinfraError`` with the fix when the daemon doesn't answer."""
        info = self.get("/1.0")
        return info if isinstance(info, dict) else {}

    def instance(self, name: str) -> dict[str, Any] | None:
        """The instance's record, or None when it does not exist."""
        try:
            return dict(self.get(f"/1.0/instances/{urllib.parse.quote(name)}"))
        except LxdNotFound:
            return None

    def instance_names(self) -> list[str]:
        urls = self.get("/1.0/instances") or []
        return [str(u).rsplit("/", 1)[-1] for u in urls]

    def projects(self) -> list[str]:
        """The daemon's project names."""
        urls = self.get("/1.0/projects") or []
        return [urllib.parse.unquote(str(u).rsplit("/", 1)[-1]) for u in urls]

    def project_exists(self, name: str) -> bool:
        try:
            self.get(f"/1.0/projects/{urllib.parse.quote(name)}")
            return True
        except LxdNotFound:
            return False

    def image_exists(self, alias: str) -> bool:
        try:
            self.get(f"/1.0/images/aliases/{urllib.parse.quote(alias)}")
            return True
        except LxdNotFound:
            return False

    def gpus(self) -> list[dict[str, Any]]:
        """The host's GPU cards as LXD sees them (vendor, product, pci_address…)."""
        resources = self.get("/1.0/resources") or {}
        return list((resources.get("gpu") or {}).get("cards") or [])

    def read_file(self, name: str, path: str) -> bytes | None:
        """A file from inside the instance, or None when it doesn't exist (yet)."""
        query = urllib.parse.urlencode({"path": path})
        status, raw = self._request(
            "GET", f"/1.0/instances/{urllib.parse.quote(name)}/files?{query}"
        )
        return raw if status == 200 else None

    def wait_for_file(self, name: str, path: str, timeout: float = 90.0) -> bytes:
        """Poll for a file the instance creates at boot (its SSH host keys), with a deadline."""
        return self.wait_for(
            lambda: self.read_file(name, path) or None,
            f"container {name} did not create {path}",
            f"check its boot with 'lxc exec {name} -- systemctl --failed'",
            timeout=timeout,
            name=name,
        )

    def wait_for(
        self,
        probe: Callable[[], T | None],
        problem: str,
        fix: str,
        *,
        timeout: float = 90.0,
        name: str = "",
    ) -> T:
        """Poll ``probe`` until it returns something, every 0.1 s for the first seconds of a
        boot (where a launch waits on it) and every 0.5 s after, up to ``timeout``. When
        ``name`` is given, an instance that disappears meanwhile ends the wait (looked at once
        a second: each look is LXD's work too, times every machine of a ``--count`` launch)."""
        start, looked = time.monotonic(), time.monotonic()
        while True:
            found = probe()
            if found is not None:
                return found
            now = time.monotonic()
            if name and now - looked >= 1.0:
                looked = now
                if self.instance(name) is None:
                    raise CmlinfraError(
                        f"container {name} disappeared while booting",
                        "check --max-ttl, and that nothing else deletes it",
                    )
            waited = now - start
            if waited > timeout:
                raise CmlinfraError(f"{problem} within {timeout:.0f}s", fix)
            time.sleep(0.1 if waited < 5 else 0.5)  # polling interval, not synchronisation
