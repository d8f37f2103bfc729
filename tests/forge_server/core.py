"""The fake forge HTTP server: routing, OpenAPI validation, auth, failure injection, call log.

One threaded server serves all three forges on one port, told apart by path prefix: GitHub at
``/`` (and ``/api/v3`` like Enterprise), GitLab at ``/api/v4``, Bitbucket at ``/2.0``.
Every request is validated against the forge's official OpenAPI description *before* a
handler sees it: one the real API would reject gets HTTP 400 and is recorded as a violation.
Every handler response is validated too (a violation means the fake server itself is wrong).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.forge_server.schema import Schemas
from tests.forge_server.state import State

SPECS = Path(__file__).parent / "specs"

PREFIX = {"gitlab": "/api/v4", "bitbucket": "/2.0"}


@dataclass
class Req:
    forge: str
    method: str
    path: str  # raw path as sent
    template: str
    params: dict[str, str]
    query: dict[str, str]
    headers: Headers
    body: bytes
    request: Request

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: Any = None  # partial: completed from the response schema by Schemas.fill
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # body is final (error bodies), do not fill


@dataclass
class Call:
    forge: str
    method: str
    path: str
    status: int


@dataclass
class Fault:
    forge: str
    method: str
    pattern: str
    status: int
    message: str
    headers: dict[str, str]
    times: int | None  # None: every time


Handler = Callable[["ForgeServer", Req], Reply]


class _Route:
    def __init__(self, template: str, multi: set[str], handler: Handler) -> None:
        self.template, self.handler, self.multi = template, handler, multi
        pattern = re.escape(template)
        for name in re.findall(r"\{(\w+)\}", template):
            part = ".+" if name in multi else "[^/]+"
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{part})")
        self.regex = re.compile(pattern + "$")


class ForgeServer:
    """State plus an HTTP front. ``token`` is the only credential every forge accepts."""

    def __init__(self, token: str = "forge-test-token-5f1d3c") -> None:
        from tests.forge_server import bitbucket, github, gitlab

        self.token = token
        self.state = State()
        self.violations: list[str] = []
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._specs: dict[str, dict[str, Any]] = {}
        self._openapi: dict[str, Any] = {}
        self._routes: dict[str, list[tuple[str, _Route]]] = {}
        for forge, module in (("github", github), ("gitlab", gitlab), ("bitbucket", bitbucket)):
            self._load(forge, module.ROUTES)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- setup ----------------------------------------------------------------------------
    def _load(self, forge: str, routes: dict[tuple[str, str], Handler]) -> None:
        from openapi_core import Config, OpenAPI

        spec = json.loads((SPECS / f"{forge}.json").read_text())
        base = self.url + PREFIX.get(forge, "")
        spec["servers"] = [{"url": base}] + (
            [{"url": self.url + "/api/v3"}] if forge == "github" else []
        )
        # GitLab's description has one Ruby-only regex (a query parameter nobody sends), which
        # fails the spec check; requests and responses are still validated.
        config = Config(spec_validator_cls=None) if forge == "gitlab" else None
        self._openapi[forge] = OpenAPI.from_dict(spec, config=config)
        self._specs[forge] = spec
        table = []
        for (method, template), handler in routes.items():
            op = spec["paths"][template][method]
            params = [Schemas(spec).resolve(p) for p in op.get("parameters", [])]
            multi = {p["name"] for p in params if p.get("x-multi-segment")}
            table.append((method, _Route(template, multi, handler)))
        self._routes[forge] = table

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.state = State()
            self.calls.clear()
            self.faults.clear()
            self.violations.clear()

    def fail(
        self,
        forge: str,
        method: str,
        pattern: str,
        status: int,
        message: str = "",
        *,
        headers: dict[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer matching requests (regex on the path) with ``status`` ``times`` times."""
        with self._lock:
            self.faults.append(
                Fault(forge, method.upper(), pattern, status, message, headers or {}, times)
            )

    def take_violations(self) -> list[str]:
        with self._lock:
            found, self.violations[:] = list(self.violations), []
            return found

    def api_calls(self, forge: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if forge is None or c.forge == forge]

    # -- the HTTP side --------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path).split("?")[0]
        with self._lock:
            response = self._handle(request, raw)
        return response(environ, start_response)

    def _forge_of(self, raw: str) -> tuple[str, str]:
        if raw.startswith("/api/v4/"):
            return "gitlab", raw
        if raw.startswith("/2.0/"):
            return "bitbucket", raw[len("/2.0") :]
        if raw.startswith("/api/v3/"):
            return "github", raw[len("/api/v3") :]
        return "github", raw

    def _handle(self, request: Request, raw: str) -> Response:
        forge, path = self._forge_of(raw)
        method = request.method.lower()
        route, params = self._route(forge, method, path)
        if route is None:
            self.violations.append(f"{forge} {method.upper()} {raw}: no such operation")
            return self._record(forge, request, raw, _error(forge, 404, "Not Found"))
        problem = self._validate_request(forge, request, route, params)
        if problem:
            self.violations.append(f"{forge} {method.upper()} {raw}: {problem}")
            return self._record(forge, request, raw, _error(forge, 400, problem))
        fault = self._fault(forge, request.method, path)
        if fault is not None:
            reply = _error(forge, fault.status, fault.message or _REASONS.get(fault.status, ""))
            reply.headers.update(fault.headers)
            return self._record(forge, request, raw, reply)
        if not self._authorized(forge, request.headers):
            return self._record(forge, request, raw, _error(forge, 401, _UNAUTHORIZED[forge]))
        req = Req(
            forge,
            method,
            raw,
            route.template,
            params,
            dict(request.args.items()),
            request.headers,
            request.get_data(),
            request,
        )
        try:
            reply = route.handler(self, req)
        except NotFound as exc:
            reply = _error(forge, 404, str(exc) or "Not Found")
        except Invalid as exc:
            reply = _error(forge, 422 if forge == "github" else 400, str(exc))
        return self._record(forge, request, raw, reply, route.template, method)

    def _route(self, forge: str, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for m, route in self._routes[forge]:
            match = route.regex.match(path)
            if m == method and match:
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
        return None, {}

    def _validate_request(
        self, forge: str, request: Request, route: _Route, params: dict[str, str]
    ) -> str:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest

        # openapi-core matches parameters as one segment: present a multi-segment value
        # (a git ref like heads/main) encoded, as the description allows it.
        path = route.template
        for name, value in params.items():
            encoded = quote(value, safe="") if name in route.multi else quote(value, safe="@:")
            path = path.replace("{" + name + "}", encoded)

        class _Adapter(WerkzeugOpenAPIRequest):
            @property
            def path(self) -> str:
                return PREFIX.get(forge, "") + path

            @property
            def host_url(self) -> str:
                return self.request.host_url.rstrip("/")

        try:
            with warnings.catch_warnings():
                # openapi-core cannot check Bitbucket's OAuth2 scheme; _authorized does
                warnings.filterwarnings("ignore", "Unsupported scheme type")
                self._openapi[forge].validate_request(_Adapter(request))
        except Exception as exc:  # openapi-core raises a family of validation errors
            return _describe(exc)
        return ""

    def _fault(self, forge: str, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            matches = fault.forge == forge and fault.method in (method, "*")
            if matches and re.search(fault.pattern, path) and fault.times != 0:
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _authorized(self, forge: str, headers: Headers) -> bool:
        auth = headers.get("Authorization", "")
        if auth in (f"Bearer {self.token}", f"token {self.token}"):
            return True
        if forge == "gitlab":
            return self.token in (headers.get("PRIVATE-TOKEN"), headers.get("JOB-TOKEN"))
        if forge == "bitbucket" and auth.startswith("Basic "):
            user_pass = base64.b64decode(auth[6:]).decode(errors="replace")
            return user_pass.partition(":")[2] == self.token
        return False

    def _record(
        self,
        forge: str,
        request: Request,
        raw: str,
        reply: Reply,
        template: str = "",
        method: str = "",
    ) -> Response:
        body = reply.body
        if template and not reply.raw:
            body = self._complete(forge, template, method, reply)
        data = b"" if body is None else json.dumps(body).encode()
        response = Response(
            data,
            status=reply.status,
            headers=reply.headers,
            content_type="application/json; charset=utf-8" if data else None,
        )
        if template and not reply.raw:
            self._validate_response(forge, request, template, method, response)
        self.calls.append(Call(forge, request.method, raw, reply.status))
        return response

    def _complete(self, forge: str, template: str, method: str, reply: Reply) -> Any:
        op = self._specs[forge]["paths"][template][method]
        spec_reply = op.get("responses", {}).get(str(reply.status))
        if spec_reply is None:
            if reply.status < 400:
                self.violations.append(
                    f"{forge} {method.upper()} {template}: undocumented status {reply.status}"
                )
            return reply.body
        schemas = Schemas(self._specs[forge])
        content = schemas.resolve(spec_reply).get("content", {})
        media = content.get("application/json") or next(iter(content.values()), {})
        if reply.body is None and not media:
            return None
        return schemas.fill(media.get("schema"), reply.body)

    def _validate_response(
        self, forge: str, request: Request, template: str, method: str, response: Response
    ) -> None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

        op = self._specs[forge]["paths"][template][method]
        if str(response.status_code) not in op.get("responses", {}) or response.status_code == 204:
            return  # undocumented errors (401 on most GitHub operations) pass through; a 204
            # has no body whatever a description says (GitLab documents one for DELETE runner)
        concrete = template  # validate against this exact operation, whatever the raw path
        for name in re.findall(r"\{(\w+)\}", template):
            concrete = concrete.replace("{" + name + "}", "p")

        class _Adapter(WerkzeugOpenAPIRequest):
            @property
            def path(self) -> str:
                return PREFIX.get(forge, "") + concrete

            @property
            def host_url(self) -> str:
                return self.request.host_url.rstrip("/")

        try:
            self._openapi[forge].validate_response(
                _Adapter(request), WerkzeugOpenAPIResponse(response)
            )
        except Exception as exc:
            self.violations.append(
                f"fake server bug: {forge} {method.upper()} {template} "
                f"{response.status_code} response: {_describe(exc)}"
            )


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests read the call log instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class NotFound(Exception):
    """A handler's 404."""


class Invalid(Exception):
    """A handler's 422 (GitHub) / 400 (others): valid shape, rejected by the forge's rules."""


_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
_UNAUTHORIZED = {
    "github": "Bad credentials",
    "gitlab": "401 Unauthorized",
    "bitbucket": "Access token expired or invalid",
}


def _error(forge: str, status: int, message: str) -> Reply:
    """An error body in the forge's own shape."""
    if forge == "github":
        body: Any = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    elif forge == "gitlab":
        body = {"message": message}
    else:
        body = {"type": "error", "error": {"message": message}}
    return Reply(status, body, raw=True)


def _describe(exc: Exception) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    for detail in (
        getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None) or []
    ):
        parts.append(str(getattr(detail, "message", detail))[:300])
    if cause is not None and not getattr(cause, "schema_errors", None):
        parts.append(str(cause)[:300])
    return "; ".join(parts)
