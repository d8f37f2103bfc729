"""Strict validation against the Kubernetes JSON schemas that kubernetes-validate ships, for
every version cmlinfra claims (``VERSIONS``): a body one of them would reject is refused."""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
import referencing
from kubernetes_validate.utils import all_versions, schema_contents

# the versions cmlinfra claims to support: every one kubernetes-validate has (1.25 … 1.37)
VERSIONS = tuple(v.rsplit(".", 1)[0] for v in all_versions())


def _api_suffix(api_version: str) -> str:
    return re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)


@functools.cache
def _validator(version: str, kind: str, api_version: str) -> Any:
    directory = f"kubernetes-json-schema/v{version}.0-local-strict"
    schema = schema_contents(f"{directory}/{kind.lower()}-{_api_suffix(api_version)}.json", version)
    definitions = schema_contents(f"{directory}/_definitions.json", version)
    registry = referencing.Resource.from_contents(definitions) @ (
        referencing.Resource.from_contents(schema) @ referencing.Registry()
    )
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def problems(obj: dict[str, Any], kind: str, api_version: str) -> list[str]:
    """What each claimed version's strict schema says about ``obj`` (empty: valid)."""
    found = []
    for version in VERSIONS:
        error = jsonschema.exceptions.best_match(
            _validator(version, kind, api_version).iter_errors(obj)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "<root>"
            found.append(f"{kind} ({version}) at {where}: {error.message}")
    return found
