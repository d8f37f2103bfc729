"""Building response bodies that satisfy the forge's own schema.

Handlers return only the fields that carry meaning (an id, a body, a URL); :func:`fill` adds
every other *required* field with a plausible value of the declared type, so a response is as
complete as the real API's and the drivers cannot come to rely on a field the real API lacks
(a field missing from the schema is not invented; a wrong type fails validation afterwards).
An object whose ``type`` names a schema that extends the expected one is filled by that one.
"""

from __future__ import annotations

from typing import Any

MISSING: Any = object()


class Schemas:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while isinstance(schema, dict) and "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        return schema

    def _merge_all_of(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema["allOf"]:
            sub = self.resolve(sub)
            if "allOf" in sub:
                sub = self._merge_all_of(sub)
            merged.setdefault("properties", {}).update(sub.get("properties", {}))
            merged["required"] = sorted({*merged.get("required", []), *sub.get("required", [])})
            for key in ("type", "nullable"):
                if key in sub:
                    merged.setdefault(key, sub[key])
        return merged

    def _extends(self, ref: str, parent: str) -> bool:
        """Whether schema ``ref`` is ``parent`` or extends it (``allOf``, at any depth)."""
        if ref == parent:
            return True
        node = self.resolve({"$ref": ref})
        return any(
            isinstance(part, dict) and "$ref" in part and self._extends(part["$ref"], parent)
            for part in node.get("allOf", [])
        )

    def _subtype(self, ref: str, value: Any) -> str:
        """The schema an object's ``type`` names, where it extends ``ref`` (Bitbucket's
        discriminator: a ``pipeline_target`` answered as a ``pipeline_ref_target``)."""
        name = value.get("type") if isinstance(value, dict) else None
        if not ref or not isinstance(name, str):
            return ""
        sub = f"#/components/schemas/{name}"
        known = name in self.spec.get("components", {}).get("schemas", {})
        return sub if sub != ref and known and self._extends(sub, ref) else ""

    def fill(self, schema: dict[str, Any] | None, value: Any = MISSING) -> Any:
        if schema is None:
            return None if value is MISSING else value
        sub = self._subtype(schema.get("$ref", ""), value)
        if sub:
            return self.fill({"$ref": sub}, value)
        schema = self.resolve(schema)
        if "allOf" in schema:
            schema = self._merge_all_of(schema)
        if value is None:
            return None
        options = schema.get("oneOf") or schema.get("anyOf")
        if options:
            resolved = [self.resolve(o) for o in options]
            resolved = [o for o in resolved if o.get("type") != "null"] or resolved
            return self.fill(_pick(resolved, value), value)
        kind = schema.get("type") or ("object" if "properties" in schema else None)
        if kind == "object" or (kind is None and isinstance(value, dict)):
            props = schema.get("properties", {})
            given = value if isinstance(value, dict) else {}
            out: dict[str, Any] = {}
            for name in [*schema.get("required", []), *given]:
                if name in out:
                    continue
                if name in props:
                    out[name] = self.fill(props[name], given.get(name, MISSING))
                elif not props or schema.get("additionalProperties"):
                    out[name] = given[name]
                # else: a field the description does not have is dropped, so no driver can
                # come to depend on it
            return out
        if kind == "array":
            items = schema.get("items", {})
            if value is MISSING:
                return [self.fill(items) for _ in range(schema.get("minItems", 0))]
            return [self.fill(items, v) for v in value]
        if value is not MISSING:
            return value
        if "enum" in schema:
            return next(v for v in schema["enum"] if v is not None)
        if "default" in schema and schema["default"] is not None:
            return schema["default"]
        return _scalar(kind, schema)


def _pick(options: list[dict[str, Any]], value: Any) -> dict[str, Any]:
    wanted = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer"}
    kind = wanted.get(type(value)) if value is not MISSING else None
    for option in options:
        if (
            kind is None
            or option.get("type") == kind
            or (kind == "integer" and option.get("type") == "number")
        ):
            return option
        if kind == "object" and "properties" in option:
            return option
    return options[0]


def _scalar(kind: str | None, schema: dict[str, Any]) -> Any:
    fmt = schema.get("format", "")
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "date":
        return "2026-01-01"
    if fmt == "uri" or fmt == "url":
        return "https://forge.invalid/resource"
    if fmt == "email":
        return "bot@forge.invalid"
    if fmt == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    return "x" * max(int(schema.get("minLength", 1)), 1)
