"""What Atlassian's Bitbucket Cloud OpenAPI description leaves out, added to it before
``forge-spec-subset.py`` cuts its subset: properties real answers carry, and what the
description's own examples use that its schemas lack. Each addition is marked
``x-cmlinfra-erratum``, and each is refused once the description has it."""

from __future__ import annotations

from typing import Any

BITBUCKET_ERRATA = {
    # (schema, property): the property's schema. Atlassian's ``repository`` omits the
    # ``workspace`` object that every real repository answer carries (its ``uuid`` is what a
    # repository runner starts with as --accountUuid); the description's own ``workspace``
    # schema describes it. Without this, the fake server would drop the field.
    ("repository", "workspace"): {"$ref": "#/components/schemas/workspace"},
    # a step's name (bitbucket-pipelines.yml's ``name:``), in every real step answer
    ("pipeline_step", "name"): {"type": "string", "description": "The step's name."},
}

BITBUCKET_NEW_SCHEMAS: dict[str, dict[str, Any]] = {
    # The description's own example of starting a pull request's pipeline (POST
    # /repositories/{workspace}/{repo_slug}/pipelines, "Trigger a pull request pipeline")
    # and every such pipeline's answer use this target type, whose schema it leaves out.
    "pipeline_pullrequest_target": {
        "allOf": [
            {"$ref": "#/components/schemas/pipeline_target"},
            {
                "additionalProperties": True,
                "type": "object",
                "title": "Pipeline Pull Request Target",
                "properties": {
                    "source": {"type": "string"},
                    "destination": {"type": "string"},
                    "destination_commit": {"$ref": "#/components/schemas/commit"},
                    "commit": {"$ref": "#/components/schemas/commit"},
                    # the example's {"id": "3"}; an answer's has the pull request's title
                    # and links too
                    "pullrequest": {"type": "object", "additionalProperties": True},
                    "selector": {"$ref": "#/components/schemas/pipeline_selector"},
                },
            },
        ]
    },
}

# (schema, property): values its enum lacks. A pull request pipeline's selector is of type
# ``pull-requests`` (the same example), which the selector's enum leaves out.
BITBUCKET_ENUM_ERRATA = {("pipeline_selector", "type"): ["pull-requests"]}


def apply_bitbucket_errata(spec: dict[str, Any]) -> None:
    """Add the properties of ``BITBUCKET_ERRATA`` to the full description, before subsetting
    (so the components they reference come along)."""
    for (name, prop), value in sorted(BITBUCKET_ERRATA.items()):
        schema = spec["components"]["schemas"][name]
        [body] = [part for part in schema.get("allOf", [schema]) if "properties" in part]
        if prop in body["properties"]:
            raise SystemExit(f"Bitbucket erratum no longer needed: {name}.{prop} is described")
        body["properties"][prop] = value
        body.setdefault("x-cmlinfra-erratum", []).append(
            f"property {prop} added: returned by the real API, missing from the description"
        )
    schemas = spec["components"]["schemas"]
    for name, value in sorted(BITBUCKET_NEW_SCHEMAS.items()):
        if name in schemas:
            raise SystemExit(f"Bitbucket erratum no longer needed: {name} is described")
        schemas[name] = {
            **value,
            "x-cmlinfra-erratum": "schema added: the description's own example uses it",
        }
    for (name, prop), extra in sorted(BITBUCKET_ENUM_ERRATA.items()):
        [body] = [
            part for part in schemas[name].get("allOf", [schemas[name]]) if "properties" in part
        ]
        enum = body["properties"][prop]["enum"]
        if set(extra) <= set(enum):
            raise SystemExit(f"Bitbucket erratum no longer needed: {name}.{prop} lists {extra}")
        enum += extra
        body.setdefault("x-cmlinfra-erratum", []).append(
            f"{prop} may also be {', '.join(extra)}: the description's own example uses it"
        )
