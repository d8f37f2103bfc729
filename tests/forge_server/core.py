"""The fake forge HTTP server: routing, OpenAPI validation, auth, failure injection, call log.

One threaded server serves all three forges on one port, told apart by path prefix: GitHub at
``/`` (and ``/api/v3`` like Enterprise; GraphQL at ``/graphql`` and ``/api/graphql``, checked
against GitHub's GraphQL schema instead), GitLab at ``/api/v4``, Bitbucket at ``/2.0``.
``gitlab_root`` serves GitLab under a relative URL instead (``/gitlab``: its API at
``/gitlab/api/v4``, its web URLs under ``https://gitlab.test/gitlab``), as a self-managed
instance can be; a request to ``/api/v4`` then reaches no GitLab, and is a violation.
Every request is validated against the forge's official OpenAPI description *before* a
handler sees it: one the real API would reject gets HTTP 400 and is recorded as a violation.
Every handler response is validated too (a violation means the fake server itself is wrong).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from werkzeug.datastructures import Headers
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.forge_server import github_graphql
from tests.forge_server.messages import (
    REASONS,
    UNAUTHORIZED,
    Call,
    Fault,
    Invalid,
    NotFound,
    Reply,
    Req,
    error_reply,
)
from tests.forge_server.state import State
from tests.forge_server.validation import Description

Handler = Callable[["ForgeServer", Req], Reply]
GRAPHQL_PATHS = ("/graphql", "/api/graphql")  # GitHub GraphQL: github.com, Enterprise Server


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
        self.gitlab_root = ""  # "/gitlab": GitLab served under a relative URL
        self._lock = threading.RLock()
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._descriptions: dict[str, Description] = {}
        self._graphql_schema = github_graphql.load_schema()
        self._routes: dict[str, list[tuple[str, _Route]]] = {}
        for forge, module in (("github", github), ("gitlab", gitlab), ("bitbucket", bitbucket)):
            self._load(forge, module.ROUTES)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _load(self, forge: str, routes: dict[tuple[str, str], Handler]) -> None:
        description = Description(forge, self.url)
        self._descriptions[forge] = description
        self._routes[forge] = [
            (method, _Route(template, description.multi_segment(template, method), handler))
            for (method, template), handler in routes.items()
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.state = State()
            self.calls.clear()
            self.faults.clear()
            self.violations.clear()
            self.gitlab_root = ""

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

    @property
    def gitlab_web(self) -> str:
        """GitLab's web URL, under its relative URL root if it has one."""
        return "https://gitlab.test" + self.gitlab_root

    def _forge_of(self, raw: str) -> tuple[str, str]:
        if raw.startswith(self.gitlab_root + "/api/v4/"):
            return "gitlab", raw[len(self.gitlab_root) :]
        if raw.startswith("/2.0/"):
            return "bitbucket", raw[len("/2.0") :]
        if raw.startswith("/api/v3/"):
            return "github", raw[len("/api/v3") :]
        return "github", raw

    def _handle(self, request: Request, raw: str) -> Response:
        forge, path = self._forge_of(raw)
        method = request.method.lower()
        if forge != "gitlab" and self.gitlab_root and raw.startswith("/api/v4/"):
            where = f"GitLab is served under {self.gitlab_root}"
            self.violations.append(f"gitlab {method.upper()} {raw}: {where}")
            return self._record("gitlab", request, raw, error_reply("gitlab", 404, "Not Found"))
        if forge == "github" and path in GRAPHQL_PATHS and method == "post":
            return self._graphql(request, raw)
        route, params = self._route(forge, method, path)
        if route is None:
            self.violations.append(f"{forge} {method.upper()} {raw}: no such operation")
            return self._record(forge, request, raw, error_reply(forge, 404, "Not Found"))
        problem = self._descriptions[forge].check_request(
            request, route.template, params, route.multi
        )
        if problem:
            self.violations.append(f"{forge} {method.upper()} {raw}: {problem}")
            return self._record(forge, request, raw, error_reply(forge, 400, problem))
        fault = self._fault(forge, request.method, path)
        if fault is not None:
            reply = error_reply(forge, fault.status, fault.message or REASONS.get(fault.status, ""))
            reply.headers.update(fault.headers)
            return self._record(forge, request, raw, reply)
        if not self._authorized(forge, request.headers):
            return self._record(forge, request, raw, error_reply(forge, 401, UNAUTHORIZED[forge]))
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
            reply = error_reply(forge, 404, str(exc) or "Not Found")
        except Invalid as exc:
            reply = error_reply(forge, 422 if forge == "github" else 400, str(exc))
        return self._record(forge, request, raw, reply, route.template, method)

    def _graphql(self, request: Request, raw: str) -> Response:
        """GitHub GraphQL: validated against GitHub's schema instead of an OpenAPI description
        (tests/forge_server/github_graphql.py)."""
        fault = self._fault("github", "POST", raw)
        if fault is not None:
            reply = error_reply(
                "github", fault.status, fault.message or REASONS.get(fault.status, "")
            )
            reply.headers.update(fault.headers)
        elif not self._authorized("github", request.headers):
            reply = error_reply("github", 401, UNAUTHORIZED["github"])
        else:
            reply, problems = github_graphql.handle(self, self._graphql_schema, request.get_data())
            self.violations += [f"github POST {raw}: {problem}" for problem in problems]
        return self._record("github", request, raw, reply)

    def _route(self, forge: str, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for m, route in self._routes[forge]:
            match = route.regex.match(path)
            if m == method and match:
                return route, {k: unquote(v) for k, v in match.groupdict().items()}
        return None, {}

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
        body, description = reply.body, self._descriptions[forge]
        if template and not reply.raw:
            body, problem = description.complete(template, method, reply)
            if problem:
                self.violations.append(f"{forge} {method.upper()} {template}: {problem}")
        data = b"" if body is None else json.dumps(body).encode()
        response = Response(
            data,
            status=reply.status,
            headers=reply.headers,
            content_type="application/json; charset=utf-8" if data else None,
        )
        if template and not reply.raw:
            problem = description.check_response(request, template, method, response)
            if problem:
                self.violations.append(
                    f"fake server bug: {forge} {method.upper()} {template} "
                    f"{response.status_code} response: {problem}"
                )
        self.calls.append(Call(forge, request.method, raw, reply.status))
        return response


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: tests read the call log instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
