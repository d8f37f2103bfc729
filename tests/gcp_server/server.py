"""A local Google Cloud API endpoint on 127.0.0.1: Compute v1 and IAM v1 (``roles.get``),
every request and response validated against the discovery documents Google's client ships,
plus an OAuth token endpoint for service-account credentials.

Start it with :class:`GcpServer`; point cmlinfra at it with ``CMLINFRA_GCP_ENDPOINT`` and
credentials whose ``token_uri`` is ``server.token_uri``. What it keeps is in
:mod:`tests.gcp_server.compute`.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.gcp_server.compute import ApiError, Compute
from tests.gcp_server.discovery import Api, Invalid


class GcpServer:
    """The fake, its state (``compute``) and what it saw (``calls``, ``invalid``)."""

    def __init__(self, project: str = "cml-test") -> None:
        self.compute = Compute(project)
        self.apis = [Api("compute"), Api("iam")]
        self.calls: list[tuple[str, str]] = []  # (method id, path)
        self.invalid: list[str] = []  # validation failures (a test asserts this stays empty)
        self.tokens: set[str] = set()
        self.require_auth = True
        self.fail: dict[str, tuple[int, str, str]] = {}  # method id -> one injected error
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.token_uri = f"{self.url}/token"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> GcpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self.compute = Compute(self.compute.project)
            self.calls.clear()
            self.invalid.clear()
            self.fail.clear()
            self.require_auth = True

    def called(self, method_id: str) -> int:
        return sum(1 for m, _ in self.calls if m == method_id)

    # -- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = outer.dispatch(self.command, self.path, dict(self.headers), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def dispatch(
        self, verb: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        parts = urlsplit(target)
        if parts.path == "/token" and verb == "POST":
            return self._token()
        query = parse_qs(parts.query, keep_blank_values=True)
        for api in self.apis:
            found = api.match(verb, parts.path)
            if found is None:
                continue
            method, params = found
            with self._lock:
                self.calls.append((method.id, parts.path))
            if self.require_auth and not self._authorized(headers):
                return _error(401, "Request had invalid authentication credentials.",
                              "authError")  # fmt: skip
            try:
                body = json.loads(raw) if raw else None
                api.check_request(method, params, query, body)
            except (Invalid, ValueError) as exc:
                self.invalid.append(f"request {exc}")
                return _error(400, f"Invalid request: {exc}", "invalid")
            if method.id in self.fail:
                status, reason, message = self.fail.pop(method.id)
                return _error(status, message, reason)
            flat = {k: v[-1] for k, v in query.items()}
            try:
                with self._lock:
                    result = self.compute.handle(method.id, params, flat, body)
            except ApiError as exc:
                return _error(exc.status, exc.message, exc.reason)
            try:
                api.check_response(method, result)
            except Invalid as exc:
                self.invalid.append(f"response {exc}")
                return _error(500, f"the fake's response is invalid: {exc}", "backendError")
            return 200, result
        return _error(404, f"no method for {verb} {parts.path}", "notFound")

    def _token(self) -> tuple[int, Any]:
        token = f"fake-token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        return value.startswith("Bearer ") and value[7:] in self.tokens


def _error(status: int, message: str, reason: str) -> tuple[int, Any]:
    """Google's JSON error body, as the real APIs send it."""
    return status, {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
