"""Microsoft's Azure REST API specifications (Swagger 2.0) as a request/response validator.

openapi-core speaks OpenAPI 3 only; Azure's specifications are Swagger 2.0, whose schema
objects are JSON Schema draft 4 plus ``x-ms-*`` extensions. So operations are matched here by
path template and method, parameters checked against their declared type, pattern and
``required``, and bodies validated with ``jsonschema`` (draft 4) through a ``referencing``
registry holding every vendored file under its own URI, so the specifications' relative
``$ref``s (``./computeRPCommon.json#/definitions/…``) resolve exactly as upstream.

Two readings of Azure's conventions: an enum marked ``x-ms-enum: {modelAsString: true}`` is
open (new VM sizes are valid values), so its ``enum`` is not enforced; and literal path
segments match case-insensitively, as Azure Resource Manager matches them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS = Path(__file__).resolve().parents[1] / "specs"


def _open_enums(node: Any) -> Any:
    """A copy of ``node`` without the ``enum`` of model-as-string (extensible) enums."""
    if isinstance(node, list):
        return [_open_enums(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _open_enums(v) for k, v in node.items() if k != "x-ms-examples"}
    if (node.get("x-ms-enum") or {}).get("modelAsString") and "enum" in out:
        del out["enum"]
    return out


@dataclass
class Operation:
    operation_id: str
    method: str
    template: str
    file: str  # URI of the spec file
    api_version: str | None  # the file's version; None: any (generic by-id operations)
    parameters: list[dict[str, Any]]
    responses: dict[str, Any]
    pattern: re.Pattern[str] = field(repr=False, default=re.compile(""))
    long_running: bool = False


@dataclass
class Match:
    operation: Operation
    params: dict[str, str]


class Specs:
    """Every vendored specification file, its operations, and validators for their bodies."""

    def __init__(self, root: Path = SPECS) -> None:
        self.docs: dict[str, Any] = {}
        for path in sorted(root.rglob("*.json")):
            self.docs[path.resolve().as_uri()] = _open_enums(json.loads(path.read_text()))
        self.registry: Registry[Any] = Registry().with_resources(
            (uri, Resource(contents=doc, specification=DRAFT4)) for uri, doc in self.docs.items()
        )
        self.operations: list[Operation] = []
        for uri, doc in self.docs.items():
            for template, item in doc.get("paths", {}).items():
                shared = item.get("parameters", [])
                for method, op in item.items():
                    if method == "parameters":
                        continue
                    params = [self.resolve(uri, p) for p in [*shared, *op.get("parameters", [])]]
                    generic = any(p.get("x-ms-skip-url-encoding") for p in params)
                    self.operations.append(
                        Operation(
                            operation_id=op["operationId"],
                            method=method.upper(),
                            template=template,
                            file=uri,
                            api_version=None if generic else doc["info"]["version"],
                            parameters=params,
                            responses=op["responses"],
                            pattern=_compile(template, params),
                            long_running=bool(op.get("x-ms-long-running-operation")),
                        )
                    )
        # specific templates before the generic /{resourceId}
        self.operations.sort(key=lambda o: o.template == "/{resourceId}")

    def resolve(self, uri: str, node: dict[str, Any]) -> dict[str, Any]:
        """``node`` with its ``$ref`` (to this file or another) followed."""
        while "$ref" in node:
            resolved = self.registry.resolver(base_uri=uri).lookup(node["$ref"])
            node, uri = resolved.contents, resolved.resolver._base_uri or uri
        return node

    def match(self, method: str, path: str) -> Match | None:
        for op in self.operations:
            if op.method != method:
                continue
            found = op.pattern.match(path)
            if found:
                return Match(op, {k: unquote(v) for k, v in found.groupdict().items()})
        return None

    def by_id(self, operation_id: str) -> Operation:
        return next(o for o in self.operations if o.operation_id == operation_id)

    def errors(self, op: Operation, schema: dict[str, Any], value: Any) -> list[str]:
        """JSON Schema errors of ``value`` against ``schema`` (as written in ``op``'s file)."""
        wrapped = {"allOf": [schema]} if "$ref" not in schema else schema
        ref = wrapped.get("$ref")
        if ref is not None:
            wrapped = {"$ref": ref if "://" in ref else _join(op.file, ref)}
        else:
            wrapped = {"allOf": [_absolute(op.file, schema)]}
        validator = Draft4Validator(wrapped, registry=self.registry)
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<body>'}: {e.message[:300]}"
            for e in validator.iter_errors(value)
        ]

    def check_request(
        self, match: Match, query: dict[str, str], body: Any, has_body: bool
    ) -> list[str]:
        """What the real API would refuse in this request (empty: nothing)."""
        op, problems = match.operation, []
        for param in op.parameters:
            name, where = param["name"], param["in"]
            if where == "path":
                value = match.params.get(name, "")
                problems += _scalar_problems(param, value, f"path {name}")
            elif where == "query":
                if name not in query:
                    if param.get("required"):
                        problems.append(f"query parameter {name} is required")
                    continue
                problems += _scalar_problems(param, query[name], f"query {name}")
            elif where == "body":
                if not has_body:
                    if param.get("required"):
                        problems.append("a request body is required")
                    continue
                problems += [f"body {e}" for e in self.errors(op, param["schema"], body)]
        if op.api_version and query.get("api-version") != op.api_version:
            problems.append(
                f"api-version {query.get('api-version')!r}: this operation is described for "
                f"{op.api_version}"
            )
        return problems

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        response = op.responses.get(str(status))
        if response is None:
            if status < 400 or "default" not in op.responses:
                return [f"status {status} is not a documented response of {op.operation_id}"]
            response = op.responses["default"]
        response = self.resolve(op.file, response)
        schema = response.get("schema")
        if schema is None:
            return [] if body is None else [f"status {status} has no body in the description"]
        if body is None:
            return [f"status {status} must have a body"]
        return [f"response {e}" for e in self.errors(op, schema, body)]


def _join(base: str, ref: str) -> str:
    target, _, pointer = ref.partition("#")
    if not target:
        return f"{base}#{pointer}"
    from urllib.parse import urljoin

    return f"{urljoin(base, target)}#{pointer}"


def _absolute(base: str, node: Any) -> Any:
    """Inline schemas of an operation: make their relative ``$ref``s absolute."""
    if isinstance(node, list):
        return [_absolute(base, v) for v in node]
    if not isinstance(node, dict):
        return node
    return {k: (_join(base, v) if k == "$ref" else _absolute(base, v)) for k, v in node.items()}


def _compile(template: str, params: list[dict[str, Any]]) -> re.Pattern[str]:
    skip = {p["name"] for p in params if p.get("x-ms-skip-url-encoding")}
    out, last = "^", 0
    for found in re.finditer(r"\{([^}]+)\}", template):
        out += "".join(
            f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c)
            for c in template[last : found.start()]
        )
        name = found.group(1)
        group = re.sub(r"\W", "_", name)
        out += f"(?P<{group}>.+)" if name in skip else f"(?P<{group}>[^/]+)"
        last = found.end()
    out += "".join(
        f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in template[last:]
    )
    return re.compile(out.rstrip("/") + "/?$")


def _scalar_problems(param: dict[str, Any], value: str, where: str) -> list[str]:
    kind = param.get("type", "string")
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return [f"{where}: {value!r} is not an integer"]
    if kind == "boolean" and value not in ("true", "false"):
        return [f"{where}: {value!r} is not a boolean"]
    problems = []
    if "pattern" in param and not re.search(param["pattern"], value):
        problems.append(f"{where}: {value!r} does not match {param['pattern']}")
    if len(value) < param.get("minLength", 0) or len(value) > param.get("maxLength", 10**9):
        problems.append(f"{where}: {value!r} has the wrong length")
    if "enum" in param and value not in param["enum"]:
        problems.append(f"{where}: {value!r} is not one of {param['enum']}")
    return problems
