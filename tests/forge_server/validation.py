"""Checking traffic against a forge's OpenAPI description with openapi-core.

Requests are checked before any handler runs; handler responses are completed from the
response schema (:mod:`schema`) and checked too. openapi-core matches a path parameter as one
segment, so a multi-segment value (a git ref like ``heads/main``, which the description marks
``x-multi-segment``) is presented to it encoded.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from tests.forge_server.messages import Reply
from tests.forge_server.schema import Schemas

SPECS = Path(__file__).parent / "specs"
PREFIX = {"gitlab": "/api/v4", "bitbucket": "/2.0"}


def _null_in_nullable_enums(node: Any) -> None:
    """``nullable: true`` with an ``enum`` (GitHub's check-run ``conclusion``, null while the
    check runs) means null is allowed, as the forge sends it; openapi-core only accepts a value
    the enum lists (OpenAPI 3.0.3's reading), so null is added to such enums."""
    if isinstance(node, dict):
        enum = node.get("enum")
        if node.get("nullable") is True and isinstance(enum, list) and None not in enum:
            enum.append(None)
        for value in node.values():
            _null_in_nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            _null_in_nullable_enums(value)


class Description:
    """One forge's OpenAPI description, bound to the server's address."""

    def __init__(self, forge: str, url: str) -> None:
        from openapi_core import Config, OpenAPI

        self.forge = forge
        spec = json.loads((SPECS / f"{forge}.json").read_text())
        _null_in_nullable_enums(spec)
        spec["servers"] = [{"url": url + PREFIX.get(forge, "")}] + (
            [{"url": url + "/api/v3"}] if forge == "github" else []
        )
        # GitLab's description has one Ruby-only regex (a query parameter nobody sends), which
        # fails the spec check; requests and responses are still validated.
        config = Config(spec_validator_cls=None) if forge == "gitlab" else None
        self.openapi = OpenAPI.from_dict(spec, config=config)
        self.spec = spec
        self.schemas = Schemas(spec)

    def multi_segment(self, template: str, method: str) -> set[str]:
        op = self.spec["paths"][template][method]
        params = [self.schemas.resolve(p) for p in op.get("parameters", [])]
        return {p["name"] for p in params if p.get("x-multi-segment")}

    def _adapter(self, request: Request, path: str) -> Any:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest

        prefix = PREFIX.get(self.forge, "")

        class _Adapter(WerkzeugOpenAPIRequest):
            @property
            def path(self) -> str:
                return prefix + path

            @property
            def host_url(self) -> str:
                return self.request.host_url.rstrip("/")

        return _Adapter(request)

    def check_request(
        self, request: Request, template: str, params: dict[str, str], multi: set[str]
    ) -> str:
        """What is wrong with the request, or an empty string if the real API accepts it."""
        path = template
        for name, value in params.items():
            encoded = quote(value, safe="") if name in multi else quote(value, safe="@:")
            path = path.replace("{" + name + "}", encoded)
        try:
            with warnings.catch_warnings():
                # openapi-core cannot check Bitbucket's OAuth2 scheme; the server's auth does
                warnings.filterwarnings("ignore", "Unsupported scheme type")
                self.openapi.validate_request(self._adapter(request, path))
        except Exception as exc:  # openapi-core raises a family of validation errors
            return describe(exc)
        return self.typed_problem(request.get_data())

    def typed_problem(self, data: bytes) -> str:
        """What is wrong with an object of a JSON body, checked against the schema its
        ``type`` names, where that extends the declared one (Bitbucket's discriminator, which
        openapi-core does not follow: a ``pipeline_target`` that is a ``pipeline_ref_target``
        must be a valid one)."""
        if self.forge != "bitbucket" or not data:
            return ""
        from openapi_schema_validator import OAS30Validator

        try:
            body = json.loads(data)
        except ValueError:
            return ""
        schemas = self.spec["components"]["schemas"]
        stack = [body]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            stack.extend(node.values())
            name = node.get("type")
            if isinstance(name, str) and "allOf" in schemas.get(name, {}):
                schema = {"components": self.spec["components"]}
                schema["$ref"] = f"#/components/schemas/{name}"
                error = next(iter(OAS30Validator(schema).iter_errors(node)), None)
                if error is not None:
                    return f"a {name}: {error.message[:300]}"
        return ""

    def complete(self, template: str, method: str, reply: Reply) -> tuple[Any, str]:
        """The reply's body completed from the response schema, and a problem if the status
        is not one the description documents for a success."""
        op = self.spec["paths"][template][method]
        documented = op.get("responses", {}).get(str(reply.status))
        if documented is None:
            problem = f"undocumented status {reply.status}" if reply.status < 400 else ""
            return reply.body, problem
        content = self.schemas.resolve(documented).get("content", {})
        media = content.get("application/json") or next(iter(content.values()), {})
        if reply.body is None and not media:
            return None, ""
        return self.schemas.fill(media.get("schema"), reply.body), ""

    def check_response(
        self, request: Request, template: str, method: str, response: Response
    ) -> str:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIResponse

        op = self.spec["paths"][template][method]
        if str(response.status_code) not in op.get("responses", {}) or response.status_code == 204:
            return ""  # undocumented errors (401 on most GitHub operations) pass through; a 204
            # has no body whatever a description says (GitLab documents one for DELETE runner)
        concrete = re.sub(r"\{\w+\}", "p", template)  # this exact operation, whatever the path
        try:
            self.openapi.validate_response(
                self._adapter(request, concrete), WerkzeugOpenAPIResponse(response)
            )
        except Exception as exc:
            return describe(exc)
        return self.typed_problem(response.get_data())


def describe(exc: Exception) -> str:
    """openapi-core's error with the schema errors behind it, on one line."""
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__ or exc.__context__
    for detail in (
        getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None) or []
    ):
        parts.append(str(getattr(detail, "message", detail))[:300])
    if cause is not None and not getattr(cause, "schema_errors", None):
        parts.append(str(cause)[:300])
    return "; ".join(parts)
