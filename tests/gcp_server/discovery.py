"""Google API discovery documents as a strict validator for a local fake.

The documents are the ones google-api-python-client ships (``googleapiclient/
discovery_cache/documents/<api>.<version>.json``): the same description the client builds its
methods from, and Google's own published description of each REST API. Every request the fake
receives is matched to one method (HTTP verb + ``flatPath``), its path and query parameters
checked (known, required, enums, integer formats), its body checked against the method's
request schema, and every response the fake sends checked against the response schema. A
mismatch raises :class:`Invalid`, which the server turns into a 400 (requests) or a 500
(responses): a fake that drifts from Google's API fails the test that exercised it.

Strictness follows the real API: unknown fields are refused, ``int64``/``uint64`` values are
JSON strings in responses (requests may send numbers, as Google accepts both), and a request's
``null`` field is an unset one (proto3 JSON, which google-auth relies on).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


class Invalid(Exception):
    """A request or response that the discovery document does not allow."""


@cache
def document(api: str, version: str = "v1") -> dict[str, Any]:
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    return json.loads((path / f"{api}.{version}.json").read_text())  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Method:
    api: str
    id: str  # compute.instances.get
    http_method: str
    pattern: re.Pattern[str]
    names: tuple[str, ...]  # path parameter names in order
    spec: dict[str, Any]


def _methods(resource: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(resource.get("methods", {}).values())
    for child in resource.get("resources", {}).values():
        found += _methods(child)
    return found


def _pattern(path: str, params: dict[str, Any]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []

    def group(match: re.Match[str]) -> str:
        name = match.group(1).lstrip("+")
        names.append(name)
        multi = match.group(1).startswith("+") or params.get(name, {}).get("pattern", "").endswith(
            ".*$"
        )
        return "(.+)" if multi else "([^/]+)"

    pieces = re.split(r"(\{[+\w]+\})", path)
    regex = "".join(
        group(m) if (m := re.fullmatch(r"\{([+\w]+)\}", piece)) else re.escape(piece)
        for piece in pieces
    )
    return re.compile(f"^{regex}$"), tuple(names)


class Api:
    """One discovery document's methods, addressed under ``prefix`` on the fake server."""

    def __init__(self, api: str, version: str = "v1") -> None:
        self.doc = document(api, version)
        self.name = api
        self.prefix = "/" + self.doc["servicePath"].strip("/")
        self.methods: list[Method] = []
        for spec in _methods(self.doc):
            path = spec["path"]  # {+name} where flatPath would rename the parameters
            pattern, names = _pattern(path, spec.get("parameters", {}))
            self.methods.append(Method(api, spec["id"], spec["httpMethod"], pattern, names, spec))
        self.common = self.doc.get("parameters", {})

    def match(self, verb: str, path: str) -> tuple[Method, dict[str, str]] | None:
        """The method a request addresses and its path parameters, or None."""
        rest = path[len(self.prefix) :].lstrip("/") if path.startswith(self.prefix) else None
        if rest is None:
            return None
        for method in self.methods:
            if method.http_method != verb:
                continue
            if m := method.pattern.match(rest):
                from urllib.parse import unquote

                found = {n: unquote(v) for n, v in zip(method.names, m.groups(), strict=True)}
                params = method.spec.get("parameters", {})
                if all(
                    re.match(params[n].get("pattern", ""), v) for n, v in found.items()
                ):  # several methods share "v1/{+name}": the parameter's pattern tells them apart
                    return method, found
        return None

    # -- requests ---------------------------------------------------------------------------

    def check_request(
        self, method: Method, path_params: dict[str, str], query: dict[str, list[str]],
        body: Any,
    ) -> None:  # fmt: skip
        params = method.spec.get("parameters", {})
        for name, spec in params.items():
            if spec.get("required") and name not in path_params and name not in query:
                raise Invalid(f"{method.id}: required parameter {name!r} missing")
        for name, values in query.items():
            spec = params.get(name) or self.common.get(name)
            if spec is None:
                raise Invalid(f"{method.id}: unknown query parameter {name!r}")
            for value in values:
                self._scalar(spec, value, f"{method.id} ?{name}", from_query=True)
        for name, value in path_params.items():
            self._scalar(params[name], value, f"{method.id} /{name}", from_query=True)
        if "request" in method.spec:
            if body is None:
                raise Invalid(f"{method.id}: a request body is required")
            self.check(method.spec["request"], body, f"{method.id} body", response=False)
        elif body not in (None, {}, b"", ""):
            raise Invalid(f"{method.id}: takes no request body")

    def check_response(self, method: Method, body: Any) -> None:
        if "response" in method.spec:
            self.check(method.spec["response"], body, f"{method.id} response", response=True)

    # -- schemas ----------------------------------------------------------------------------

    def check(self, schema: dict[str, Any], value: Any, where: str, *, response: bool) -> None:
        if "$ref" in schema:
            schema = self.doc["schemas"][schema["$ref"]]
        if value is None and not response:
            return  # proto3 JSON: a null field in a request is an unset one
        kind = schema.get("type")
        if kind == "object":
            if not isinstance(value, dict):
                raise Invalid(f"{where}: expected an object, got {type(value).__name__}")
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if key in props:
                    self.check(props[key], item, f"{where}.{key}", response=response)
                elif extra is not None:
                    self.check(extra, item, f"{where}[{key!r}]", response=response)
                else:
                    raise Invalid(f"{where}: unknown field {key!r}")
        elif kind == "array":
            if not isinstance(value, list):
                raise Invalid(f"{where}: expected an array, got {type(value).__name__}")
            for i, item in enumerate(value):
                self.check(schema["items"], item, f"{where}[{i}]", response=response)
        elif kind == "any":
            return
        else:
            self._scalar(schema, value, where, response=response)

    def _scalar(self, schema: dict[str, Any], value: Any, where: str, *, response: bool = False,
                from_query: bool = False) -> None:  # fmt: skip
        kind, fmt = schema.get("type"), schema.get("format", "")
        if kind == "string" and fmt in ("int64", "uint64"):
            ok = isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None
            if not ok and not response and isinstance(value, int) and not isinstance(value, bool):
                ok = True  # Google accepts numbers for int64 fields in requests
            if not ok:
                raise Invalid(f"{where}: {fmt} must be a string of digits, got {value!r}")
        elif kind == "string":
            if not isinstance(value, str):
                raise Invalid(f"{where}: expected a string, got {value!r}")
            if "enum" in schema and value not in schema["enum"]:
                raise Invalid(f"{where}: {value!r} is not one of {schema['enum']}")
            if (pattern := schema.get("pattern")) and from_query and not re.match(pattern, value):
                raise Invalid(f"{where}: {value!r} does not match {pattern}")
        elif kind == "integer":
            if from_query and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                return
            if not isinstance(value, int) or isinstance(value, bool):
                raise Invalid(f"{where}: expected an integer, got {value!r}")
        elif kind == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise Invalid(f"{where}: expected a number, got {value!r}")
        elif kind == "boolean":
            if from_query and value in ("true", "false"):
                return
            if not isinstance(value, bool):
                raise Invalid(f"{where}: expected a boolean, got {value!r}")
