"""The fake API's HTTP side: discovery, CRUD with label/field selectors, merge patches, Status
errors, bearer-token auth, SelfSubjectAccessReview, pod logs, and ``exec`` over a websocket
speaking ``v5.channel.k8s.io`` (stdin close signal) or ``v4.channel.k8s.io``, the protocols
``kubectl`` (1.30+) and the Python client ask for. Every request body and every object stored
is checked against the claimed versions' strict schemas (schemas.py); a violation is answered
422 and recorded in ``violations``, so a test can assert there were none."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from tests.kube_server.cluster import KINDS, Cluster, Conflict, Node
from tests.kube_server.schemas import problems
from tests.kube_server.tls import self_signed, server_context

GROUPS = {
    "batch": "batch/v1",
    "networking.k8s.io": "networking.k8s.io/v1",
    "authorization.k8s.io": "authorization.k8s.io/v1",
}
RESOURCES = {
    "v1": [
        "pods",
        "pods/exec",
        "pods/log",
        "secrets",
        "serviceaccounts",
        "events",
        "namespaces",
        "resourcequotas",
    ],
    "batch/v1": ["jobs"],
    "networking.k8s.io/v1": ["networkpolicies"],
    "authorization.k8s.io/v1": ["selfsubjectaccessreviews"],
}
PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/v1)"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$"
)
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _selected(obj: dict[str, Any], labels: str, fields: str) -> bool:
    have = obj["metadata"].get("labels") or {}
    for term in filter(None, (t.strip() for t in labels.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if have.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if have.get(key) != value.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in have:
                return False
        elif term not in have:
            return False
    for term in filter(None, (t.strip() for t in fields.split(","))):
        key, value = term.split("=", 1)
        node: Any = obj
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if str(node) != value.lstrip("="):
            return False
    return True


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic merge patches are applied the same way here)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


class KubeServer:
    """Start with :meth:`start`; ``url``, ``token``, ``cluster``, ``violations``, ``calls``."""

    def __init__(
        self,
        nodes: list[Node] | None = None,
        token: str = "cmlinfra-test-token",
        namespaces: tuple[str, ...] = ("default", "ci"),
    ) -> None:
        self.cluster = Cluster(nodes if nodes is not None else [], namespaces)
        self.token = token
        self.violations: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.denied: set[tuple[str, str]] = set()  # (verb, resource) SelfSubjectAccessReview denies
        self.faults: list[tuple[str, str, int, str]] = []  # (method, path regex, code, message)
        self.exec_protocols: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self.cert, self._key = self_signed()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> KubeServer:
        server = self

        class Handler(_Handler):
            api = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = server_context(self.cert, self._key).wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for container in [*self.cluster.containers.values(), *self.cluster.terminating]:
            container.remove()

    def kubeconfig(self, namespace: str = "default") -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fake",
                "clusters": [
                    {
                        "name": "fake",
                        "cluster": {
                            "server": self.url,
                            "certificate-authority-data": base64.b64encode(self.cert).decode(),
                        },
                    }
                ],
                "users": [{"name": "ci", "user": {"token": self.token}}],
                "contexts": [
                    {
                        "name": "fake",
                        "context": {"cluster": "fake", "user": "ci", "namespace": namespace},
                    }
                ],
            }
        )

    def fail(self, method: str, path: str, code: int, message: str) -> None:
        """The next ``method`` request whose path matches ``path`` gets ``code``."""
        self.faults.append((method, path, code, message))

    # -- validation -------------------------------------------------------------------------

    def check(self, obj: dict[str, Any], kind: str, api_version: str, what: str) -> None:
        found = problems(obj, kind, api_version)
        if found:
            self.violations += [f"{what}: {p}" for p in found]
            raise ApiError(
                422,
                "Invalid",
                f'{kind} "{obj.get("metadata", {}).get("name")}" is invalid: {found[0]}',
            )

    # -- REST -------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        for fault in list(self.faults):
            if fault[0] == method and re.search(fault[1], path):
                self.faults.remove(fault)
                return fault[2], status(
                    fault[2], "InternalError" if fault[2] >= 500 else "Forbidden", fault[3]
                )
        if path.rstrip("/") == "/version":
            return 200, {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.0",
                "gitCommit": "fake",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.22",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path.startswith("/openapi/v3"):
            return self._openapi(path)
        if path == "/api":
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                ],
            }
        if path == "/apis":
            groups = [
                {
                    "name": g,
                    "versions": [{"groupVersion": gv, "version": "v1"}],
                    "preferredVersion": {"groupVersion": gv, "version": "v1"},
                }
                for g, gv in GROUPS.items()
            ]
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        for group_version, resources in RESOURCES.items():
            prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            if path == prefix:
                return 200, self._resource_list(group_version, resources)
        match = PATH.match(path)
        if match is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        _group, ns, resource, name, sub = match.group("group", "ns", "resource", "name", "sub")
        if resource == "selfsubjectaccessreviews" and method == "POST":
            return self._review(body)
        if resource not in KINDS:
            return 404, status(
                404, "NotFound", f"the server could not find the requested resource ({resource})"
            )
        kind, api_version, namespaced = KINDS[resource]
        ns = ns or ""
        if (
            namespaced
            and resource != "events"
            and ns
            and self.cluster.get("namespaces", "", ns) is None
            and method == "POST"
        ):
            return 404, status(404, "NotFound", f'namespaces "{ns}" not found')
        if sub == "log":
            container = self.cluster.containers.get((ns, name or ""))
            return 200, (container.logs() if container else b"")
        if method == "GET" and name is None:
            labels = (query.get("labelSelector") or [""])[0]
            fields = (query.get("fieldSelector") or [""])[0]
            items = [
                self._out(o)
                for o in self.cluster.list(resource, ns if namespaced and ns else None)
                if _selected(o, labels, fields)
            ]
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
            return 200, {
                "kind": f"{kind}List",
                "apiVersion": api_version,
                "metadata": {"resourceVersion": str(next(self.cluster.version))},
                "items": items,
            }
        if method == "GET":
            found = self.cluster.get(resource, ns, name or "")
            if found is None:
                return 404, status(404, "NotFound", f'{resource} "{name}" not found')
            return 200, self._out(found)
        if method == "POST":
            self.check(body, kind, api_version, f"POST {path}")
            body = {"kind": kind, "apiVersion": api_version, **body}  # the endpoint says which
            if body.get("kind") != kind:
                raise ApiError(400, "BadRequest", f"kind {body.get('kind')} is not {kind}")
            return self._create(resource, ns, copy.deepcopy(body))
        if method in ("PUT", "PATCH"):
            existing = self.cluster.get(resource, ns, name or "")
            if existing is None:
                return 404, status(404, "NotFound", f'{resource} "{name}" not found')
            updated = body if method == "PUT" else merge(copy.deepcopy(existing), body)
            updated = copy.deepcopy(updated)
            updated.setdefault("kind", kind)
            updated.setdefault("apiVersion", api_version)
            self.check(updated, kind, api_version, f"{method} {path}")
            updated.setdefault("status", existing.get("status")) if "status" in existing else None
            stored = self.cluster.put(resource, ns, updated, new=False)
            if resource == "secrets":
                self.cluster.secret_changed(ns, name or "")
            return 200, self._out(stored)
        if method == "DELETE":
            if body:
                self.check(body, "DeleteOptions", "meta/v1", f"DELETE {path}")
            removed = self.cluster.delete(resource, ns, name or "")
            if removed is None:
                return 404, status(404, "NotFound", f'{resource} "{name}" not found')
            return 200, self._out(removed)
        return 405, status(405, "MethodNotAllowed", f"{method} is not allowed")

    def _create(self, resource: str, ns: str, body: dict[str, Any]) -> tuple[int, Any]:
        if resource == "jobs":
            body.setdefault("status", {})
        try:
            stored = self.cluster.put(resource, ns, body)
        except Conflict as exc:
            return 409, status(409, "AlreadyExists", str(exc))
        if resource == "jobs":
            self.cluster.job_created(ns, stored)
        if resource == "secrets":
            self.cluster.secret_changed(ns, stored["metadata"]["name"])
        return 201, self._out(stored)

    def _out(self, obj: dict[str, Any]) -> dict[str, Any]:
        """What the API returns: a copy, checked against the schemas (the fake's own shapes)."""
        with self.cluster.lock:
            out = copy.deepcopy(obj)
        self.check(out, out["kind"], out["apiVersion"], f"response {out['kind']}")
        return out

    def _resource_list(self, group_version: str, resources: list[str]) -> dict[str, Any]:
        items = []
        for resource in resources:
            base, _, sub = resource.partition("/")
            kind, _, namespaced = KINDS.get(base, ("SelfSubjectAccessReview", "", False))
            verbs = (
                ["create"]
                if sub == "exec" or base == "selfsubjectaccessreviews"
                else (["get"] if sub else ["create", "delete", "get", "list", "patch", "update"])
            )
            items.append(
                {
                    "name": resource,
                    "singularName": "" if sub else kind.lower(),
                    "namespaced": namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }
            )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": items,
        }

    def _openapi(self, path: str) -> tuple[int, Any]:
        """Just enough OpenAPI v3 for kubectl to see that the server validates fields itself
        (a PATCH operation per kind with a ``fieldValidation`` query parameter): it then sends
        ``fieldValidation=Strict`` instead of validating against downloaded schemas."""
        prefixes = {gv: "api/v1" if gv == "v1" else f"apis/{gv}" for gv in RESOURCES}
        if path == "/openapi/v3":
            return 200, {
                "paths": {
                    p: {"serverRelativeURL": f"/openapi/v3/{p}?hash=fake"}
                    for p in prefixes.values()
                }
            }
        gv = next((g for g, p in prefixes.items() if path == f"/openapi/v3/{p}"), None)
        if gv is None:
            return 404, status(404, "NotFound", "no such OpenAPI document")
        group, _, version = gv.rpartition("/")
        paths = {}
        for resource, (kind, api_version, namespaced) in KINDS.items():
            if api_version != gv:
                continue
            where = "/namespaces/{namespace}" if namespaced else ""
            paths[f"/{prefixes[gv]}{where}/{resource}/{{name}}"] = {
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": group,
                        "version": version,
                        "kind": kind,
                    },
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        return 200, {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.31.0"},
            "paths": paths,
        }

    def _review(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.check(
            body,
            "SelfSubjectAccessReview",
            "authorization.k8s.io/v1",
            "POST selfsubjectaccessreviews",
        )
        attrs = body["spec"].get("resourceAttributes") or {}
        allowed = (attrs.get("verb"), attrs.get("resource")) not in self.denied
        return 201, {**body, "status": {"allowed": allowed}}

    # -- exec ------------------------------------------------------------------------------

    def exec(
        self,
        sock: socket.socket,
        conn: Connection,
        protocol: str,
        ns: str,
        pod: str,
        query: dict[str, list[str]],
    ) -> None:
        container = self.cluster.containers.get((ns, pod))
        self.exec_protocols.append(protocol)
        if container is None or container.process.poll() is not None:
            message = json.dumps(status(400, "BadRequest", f"pod {pod} is not running")).encode()
            sock.sendall(conn.send(BytesMessage(data=b"\x03" + message)))
            sock.sendall(conn.send(CloseConnection(code=1000)))
            return
        process = container.exec(query.get("command", []))
        self._relay(sock, conn, protocol, process)

    @staticmethod
    def _relay(sock: socket.socket, conn: Connection, protocol: str, process: Any) -> None:
        """One thread does all the socket's I/O (a TLS socket is not safe to read and write
        from two threads); the process's stdin is fed from a queue by its own thread."""
        import os
        import queue
        import selectors

        feed: queue.Queue[bytes | None] = queue.Queue()

        def stdin_writer() -> None:
            while (chunk := feed.get()) is not None:
                try:
                    process.stdin.write(chunk)
                    process.stdin.flush()
                except OSError:
                    break
            with contextlib.suppress(OSError):
                process.stdin.close()

        threading.Thread(target=stdin_writer, daemon=True).start()
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ, 0)
        selector.register(process.stdout, selectors.EVENT_READ, 1)
        selector.register(process.stderr, selectors.EVENT_READ, 2)
        open_pipes = 2
        client_open = True
        continuing: bytes | None = None  # the channel of a message whose rest is still coming
        while open_pipes:
            for key, _ in selector.select(timeout=1):
                channel = key.data
                if channel:
                    chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                    if chunk:
                        sock.sendall(conn.send(BytesMessage(data=bytes([channel]) + chunk)))
                    else:
                        selector.unregister(key.fileobj)
                        open_pipes -= 1
                    continue
                data = _drain(sock)
                if not data:
                    selector.unregister(sock)
                    client_open = False
                    feed.put(None)
                    continue
                conn.receive_data(data)
                for event in conn.events():
                    if isinstance(event, BytesMessage | TextMessage):
                        raw = event.data if isinstance(event.data, bytes) else event.data.encode()
                        # wsproto hands a message over in pieces as its bytes arrive: only the
                        # first piece starts with the channel byte, the rest continue it
                        if continuing is None:
                            continuing, raw = raw[:1], raw[1:]
                            if continuing == b"\xff" and raw[:1] == b"\x00":
                                if protocol.startswith("v5"):
                                    feed.put(None)
                                raw = b""
                        if continuing == b"\x00" and raw:
                            feed.put(raw)
                        if event.message_finished:
                            continuing = None
                    elif isinstance(event, CloseConnection):
                        feed.put(None)
                    elif isinstance(event, Ping):
                        sock.sendall(conn.send(event.response()))
        code = process.wait()
        feed.put(None)
        if code == 0:
            result: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            result = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        if client_open:
            try:
                sock.sendall(conn.send(BytesMessage(data=b"\x03" + json.dumps(result).encode())))
                sock.sendall(conn.send(CloseConnection(code=1000)))
            except Exception:
                pass


def _drain(sock: socket.socket) -> bytes:
    """Everything readable now. OpenSSL may already hold more records than select() can see,
    so after the first read keep reading without blocking until it has nothing left."""
    import ssl

    try:
        data = sock.recv(65536)
    except OSError:
        return b""
    if not data:
        return b""
    sock.setblocking(False)
    try:
        while True:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    except (ssl.SSLWantReadError, BlockingIOError):
        pass
    except OSError:
        pass
    finally:
        sock.setblocking(True)
    return data


class _Handler(BaseHTTPRequestHandler):
    api: KubeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, code: int, body: Any) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header(
            "Content-Type", "application/json" if not isinstance(body, bytes) else "text/plain"
        )
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _serve(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.api.calls.append((self.command, url.path))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Authorization") != f"Bearer {self.api.token}":
            self._reply(401, status(401, "Unauthorized", "Unauthorized"))
            return
        if self.headers.get("Upgrade", "").lower() == "websocket" and url.path.endswith("/exec"):
            self._upgrade(url.path, query)
            return
        try:
            body = json.loads(raw) if raw else None
            if self.headers.get("Content-Type", "").startswith(
                "application/vnd.kubernetes.protobuf"
            ):
                raise ApiError(415, "UnsupportedMediaType", "this fake speaks JSON only")
            code, out = self.api.handle(self.command, url.path, query, body)
        except ApiError as exc:
            code, out = exc.code, status(exc.code, exc.reason, exc.message)
        except ValueError as exc:
            code, out = 400, status(400, "BadRequest", f"bad body: {exc}")
        self._reply(code, out)

    def _upgrade(self, path: str, query: dict[str, list[str]]) -> None:
        match = PATH.match(path.removesuffix("/exec"))
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        protocol = next((p for p in ("v5.channel.k8s.io", "v4.channel.k8s.io") if p in offered), "")
        if match is None or not protocol:
            self._reply(400, status(400, "BadRequest", "exec needs v5.channel.k8s.io or v4"))
            return
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        ns, pod = match.group("ns"), match.group("resource") and path.split("/")[-2]
        self.api.exec(self.connection, Connection(ConnectionType.SERVER), protocol, ns, pod, query)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
