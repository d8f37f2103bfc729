"""A local Azure Resource Manager over HTTPS whose every request and response is checked
against Microsoft's REST API specifications (tests/clouds/azure/specs, via :mod:`spec`).

The Azure SDK refuses to send a bearer token over plain HTTP, so the server speaks TLS with a
self-signed certificate the fixture makes (clients trust it through ``REQUESTS_CA_BUNDLE`` /
``CURL_CA_BUNDLE``). Besides ARM it answers what a VM or a CI job would reach next to it,
each in its real protocol and outside the ARM specifications: the App Service managed-identity
token endpoint (``IDENTITY_ENDPOINT``, how ``DefaultAzureCredential`` gets a token here, with
no network), the instance metadata service a VM asks for its own identity and token, and the
boot diagnostics blob holding a VM's serial log.

A request the specification does not allow is answered ``400`` and recorded in
``state.violations``; a response that breaks it is answered ``500`` and recorded too. The
fixture fails the test on any violation, even one the client swallowed.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.clouds.azure.arm.handlers import HANDLERS, Reply, error
from tests.clouds.azure.arm.spec import Specs
from tests.clouds.azure.arm.state import ArmState

IDENTITY_HEADER = "fake-identity-header"


class ArmServer:
    def __init__(self, cert: Path, key: Path) -> None:
        self.specs = Specs()
        self.state = ArmState()
        self.imds_vm: tuple[str, str] | None = None  # (group, vm) the IMDS answers for
        self.imds_identity = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.handle(self, "GET")

            def do_PUT(self) -> None:
                outer.handle(self, "PUT")

            def do_POST(self) -> None:
                outer.handle(self, "POST")

            def do_DELETE(self) -> None:
                outer.handle(self, "DELETE")

            def do_PATCH(self) -> None:
                outer.handle(self, "PATCH")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        self.state = ArmState()
        self.imds_vm, self.imds_identity = None, True

    # ---- dispatch ---------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self.send(h, error(400, "InvalidRequestContent", "The request content is not JSON."))
            return
        path = parts.path
        if path.startswith("/msi/"):
            self.send(h, self.managed_identity(h, query))
        elif path.startswith("/metadata/"):
            self.send(h, self.imds(h, path, query))
        elif path.startswith("/bootdiagnostics/"):
            self.send(h, self.serial_log(path))
        elif not self.authorized(h):
            self.send(h, self.unauthorized(h))
        elif "/operationresults/" in path or "/operationstatuses/" in path:
            self.send(h, self.poll(path))
        else:
            with self.state.lock:
                self.send(h, self.arm(method, path, query, body, bool(raw), h.path))

    def arm(
        self, method: str, path: str, query: dict[str, str], body: Any, has_body: bool, full: str
    ) -> Reply:
        state = self.state
        match = self.specs.match(method, path)
        if match is None:
            state.violations.append(f"{method} {path}: no such operation in the specifications")
            state.requests.append((method, full, "?"))
            return error(400, "CmlinfraFakeUnknownOperation", f"{method} {path} is not described")
        op = match.operation
        state.requests.append((method, full, op.operation_id))
        problems = self.specs.check_request(match, query, body, has_body)
        if problems:
            state.violations.append(f"{op.operation_id} request: {'; '.join(problems)}")
            return error(400, "InvalidRequestContent", "; ".join(problems))
        forced = state.errors.get(op.operation_id)
        if forced:
            status, code, message = forced.pop(0)
            reply = error(status, code, message)
        elif state.deny_writes and method != "GET":
            reply = error(
                403,
                "AuthorizationFailed",
                f"The client does not have authorization to perform action over scope '{path}' "
                "or the scope is invalid.",
            )
        else:
            reply = HANDLERS[op.operation_id](state, self.url, match.params, query, body)
        problems = self.specs.check_response(op, reply.status, reply.body)
        if problems:
            state.violations.append(f"{op.operation_id} response: {'; '.join(problems)}")
            return error(500, "CmlinfraFakeBadResponse", "; ".join(problems))
        return reply

    def poll(self, path: str) -> Reply:
        op_id = path.rstrip("/").rsplit("/", 1)[-1]
        with self.state.lock:
            op = self.state.operations.get(op_id)
            if op is None:
                return error(404, "NotFound", f"operation {op_id} not found")
            if not op.finished and op.polls > 0:
                op.polls -= 1
                status_reply = "/operationstatuses/" in path
                body = {"status": "InProgress", "name": op_id} if status_reply else None
                return Reply(
                    200 if status_reply else 202, body, {"Location": path, "Retry-After": "1"}
                )
            if not op.finished:
                op.finished = True
                op.done()
        if "/operationstatuses/" in path:
            return Reply(200, {"status": "Succeeded", "name": op_id})
        return Reply(200)

    # ---- authentication and the things next to ARM ------------------------------------------

    def authorized(self, h: BaseHTTPRequestHandler) -> bool:
        return h.headers.get("Authorization") == f"Bearer {self.state.token}"

    def unauthorized(self, h: BaseHTTPRequestHandler) -> Reply:
        given = h.headers.get("Authorization")
        if not given:
            return error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        return error(401, "InvalidAuthenticationToken", "The access token is invalid.")

    def token(self) -> dict[str, Any]:
        return {
            "access_token": self.state.issued or self.state.token,
            "expires_on": str(int(time.time()) + 3600),
            "expires_in": "3600",
            "resource": "https://management.azure.com/",
            "token_type": "Bearer",
        }

    def managed_identity(self, h: BaseHTTPRequestHandler, query: dict[str, str]) -> Reply:
        if h.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
            return Reply(401, {"error": "unauthorized"})
        return Reply(200, self.token())

    def imds(self, h: BaseHTTPRequestHandler, path: str, query: dict[str, str]) -> Reply:
        if h.headers.get("Metadata") != "true":
            return Reply(400, {"error": "Bad request. Required metadata header not specified"})
        if self.imds_vm is None:
            return Reply(404, {"error": "no VM"})
        group, vm = self.imds_vm
        if path == "/metadata/instance/compute":
            return Reply(
                200,
                {"subscriptionId": self.state.subscription, "resourceGroupName": group, "name": vm},
            )
        if path == "/metadata/identity/oauth2/token" and self.imds_identity:
            return Reply(200, self.token())
        return Reply(400, {"error": "invalid_request", "error_description": "Identity not found"})

    def serial_log(self, path: str) -> Reply:
        vm = path.split("/")[2]
        text = self.state.serial_logs.get(vm)
        if text is None or not path.endswith("serialconsole.log"):
            return Reply(404, "BlobNotFound")
        return Reply(200, text)

    def send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.body is None:
            data, kind = b"", "application/json"
        elif isinstance(reply.body, str):
            data, kind = reply.body.encode(), "text/plain"
        else:
            data, kind = json.dumps(reply.body).encode(), "application/json; charset=utf-8"
        h.send_response(reply.status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(data)))
        h.send_header("x-ms-request-id", self.state.next_id())
        for key, value in reply.headers.items():
            if key == "Location" and value.startswith("/"):
                value = self.url + value
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)
