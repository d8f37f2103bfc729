#!/usr/bin/env python3
"""Regenerate the OpenAPI subsets the fake forge server validates against.

The official descriptions are large (GitHub's is 13 MB), so the repository keeps only the
operations the drivers call, with every ``$ref`` they need carried along (the transitive closure
of referenced components), so each subset is self-contained and resolves offline.

Sources (pinned):
- GitHub: npm ``@octokit/openapi@23.0.2`` (MIT), ``generated/api.github.com.json``, fetched with
  ``npm pack`` into a temporary directory (or ``--github-tgz`` for a tarball already on disk).
- GitLab: GitLab's OpenAPI v3 description (CC BY-SA 4.0), normalized copy described in
  ``/work/shared/specs/gitlab-openapi-v3-normalized.yaml.SOURCE.md`` (``--gitlab``).
- GitLab errata: two requests the v3 copy gets wrong come from GitLab's own Swagger 2.0
  description (``--gitlab-v2``, see ``GITLAB_V2_ERRATA``).
- Bitbucket Cloud: Atlassian's OpenAPI 3 description (``--bitbucket``), plus what real answers
  carry and what its own examples use that it leaves out (``bitbucket_spec_errata.py``). Its
  subset also keeps the schemas that extend a kept one: an answer's ``type`` names one.

Usage: ``scripts/forge-spec-subset.py [--github-tgz T] [--gitlab Y] [--bitbucket J] [--out D]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bitbucket_spec_errata import apply_bitbucket_errata
from npm_package import read_members

GITHUB_PACKAGE = "@octokit/openapi@23.0.2"
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "forge_server" / "specs"

R = "/repos/{owner}/{repo}"
GITHUB_OPS = {
    R: ["get"],
    R + "/commits/{commit_sha}/pulls": ["get"],
    R + "/issues/{issue_number}/comments": ["get", "post"],
    R + "/issues/comments/{comment_id}": ["patch"],
    R + "/commits/{commit_sha}/comments": ["get", "post"],
    R + "/comments/{comment_id}": ["patch"],
    R + "/contents/{path}": ["put"],
    R + "/git/blobs": ["post"],
    R + "/git/trees": ["post"],
    R + "/git/commits": ["post"],
    R + "/git/commits/{commit_sha}": ["get"],
    R + "/git/refs": ["post"],
    R + "/git/ref/{ref}": ["get"],
    R + "/git/refs/{ref}": ["patch"],
    R + "/pulls": ["get", "post"],
    R + "/pulls/{pull_number}/merge": ["put"],
    R + "/check-runs": ["post"],
    R + "/actions/runs/{run_id}/rerun": ["post"],
    # gc re-runs the jobs a reclaimed spot runner lost (cmlinfra.forges.github_jobs)
    R + "/actions/runs": ["get"],
    R + "/actions/runs/{run_id}/jobs": ["get"],
    R + "/actions/jobs/{job_id}/rerun": ["post"],
    R + "/actions/runners": ["get"],
    R + "/actions/runners/generate-jitconfig": ["post"],
    R + "/actions/runners/registration-token": ["post"],
    R + "/actions/runners/{runner_id}": ["delete"],
    # organization runners (runner launch --repo https://github.com/ORG)
    "/orgs/{org}/actions/runners": ["get"],
    "/orgs/{org}/actions/runners/generate-jitconfig": ["post"],
    "/orgs/{org}/actions/runners/registration-token": ["post"],
    "/orgs/{org}/actions/runners/{runner_id}": ["delete"],
    # --runner-group NAME|ID: the organization's groups, checked before a machine exists
    "/orgs/{org}/actions/runner-groups": ["get"],
}

P = "/api/v4/projects/{id}"
GITLAB_OPS = {
    P: ["get"],
    P + "/repository/commits/{sha}/merge_requests": ["get"],
    P + "/merge_requests/{noteable_id}/notes": ["get", "post"],
    P + "/merge_requests/{noteable_id}/notes/{note_id}": ["put"],
    P + "/issues/{noteable_id}/notes": ["get", "post"],
    P + "/issues/{noteable_id}/notes/{note_id}": ["put"],
    P + "/repository/commits/{noteable_id}/discussions": ["get", "post"],
    P + "/repository/commits/{noteable_id}/discussions/{discussion_id}/notes/{note_id}": ["put"],
    P + "/uploads": ["post"],
    P + "/repository/commits": ["post"],
    P + "/repository/files/{file_path}": ["head"],
    P + "/merge_requests": ["get", "post"],
    P + "/merge_requests/{merge_request_iid}/merge": ["put"],
    P + "/pipelines/{pipeline_id}/retry": ["post"],
    # gc retries the jobs a reclaimed spot runner lost (cmlinfra.forges.gitlab_jobs)
    P + "/jobs": ["get"],
    P + "/jobs/{job_id}/retry": ["post"],
    P + "/pipelines/{pipeline_id}/jobs": ["get"],
    P + "/runners": ["get"],
    "/api/v4/user/runners": ["post"],
    "/api/v4/runners/{id}": ["get", "delete"],
    # group runners (runner launch --repo https://gitlab.com/GROUP[/SUBGROUP])
    "/api/v4/groups/{id}": ["get"],
    "/api/v4/groups/{id}/runners": ["get"],
}

B = "/repositories/{workspace}/{repo_slug}"
BITBUCKET_OPS = {
    # the repository's and its workspace's UUIDs, which the runner agent starts with
    B: ["get"],
    B + "/commit/{commit}/pullrequests": ["get"],
    B + "/pullrequests/{pull_request_id}/comments": ["get", "post"],
    B + "/pullrequests/{pull_request_id}/comments/{comment_id}": ["put"],
    B + "/commit/{commit}/comments": ["get", "post"],
    B + "/commit/{commit}/comments/{comment_id}": ["put"],
    B + "/issues/{issue_id}/comments": ["get", "post"],
    B + "/issues/{issue_id}/comments/{comment_id}": ["put"],
    B + "/downloads": ["post"],
    B + "/src": ["post"],
    B + "/pullrequests": ["get", "post"],
    B + "/pullrequests/{pull_request_id}/merge": ["post"],
    # workflow rerun, and gc re-running the pipeline whose step a reclaimed runner lost
    # (cmlinfra.forges.bitbucket_pipelines): Bitbucket re-runs a pipeline as a new one
    B + "/pipelines": ["get", "post"],
    B + "/pipelines/{pipeline_uuid}": ["get"],
    B + "/pipelines/{pipeline_uuid}/steps": ["get"],
    # checkpoint restore: its own step's name (cmlinfra.runner.checkpoint_bitbucket)
    B + "/pipelines/{pipeline_uuid}/steps/{step_uuid}": ["get"],
    B + "/pipelines-config/runners": ["get", "post"],
    B + "/pipelines-config/runners/{runner_uuid}": ["delete"],
    # workspace runners (runner launch --repo https://bitbucket.org/WORKSPACE)
    "/workspaces/{workspace}": ["get"],
    "/workspaces/{workspace}/pipelines-config/runners": ["get", "post"],
    "/workspaces/{workspace}/pipelines-config/runners/{runner_uuid}": ["delete"],
}


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/"):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _subtypes(spec: dict[str, Any], kept: set[str]) -> set[str]:
    """The schemas that extend (``allOf``) a kept one, other than the discriminator's root
    that every schema extends: an answer's ``type`` names one of them (Bitbucket's
    ``pipeline_ref_target`` for a ``pipeline_target``), and its fields are described there."""
    schemas = spec["components"]["schemas"]
    roots = {name for name, value in schemas.items() if "discriminator" in value}
    found: set[str] = set()
    for name, value in schemas.items():
        parents = {p.get("$ref", "").rsplit("/", 1)[-1] for p in value.get("allOf", [])}
        if name not in kept and (parents - roots) & kept:
            found.add(name)
    return found


def subset(
    spec: dict[str, Any], ops: dict[str, list[str]], source: str, subtypes: bool = False
) -> dict[str, Any]:
    """The operations in ``ops`` plus the closure of the components they reference (and,
    with ``subtypes``, of the schemas that extend one of those: :func:`_subtypes`)."""
    paths: dict[str, Any] = {}
    for path, methods in ops.items():
        item = spec["paths"][path]
        kept = {k: v for k, v in item.items() if k in methods or k in ("parameters", "servers")}
        missing = set(methods) - set(kept)
        if missing:
            raise SystemExit(f"{source}: {path} has no {sorted(missing)}")
        paths[path] = kept
    components: dict[str, dict[str, Any]] = {}
    todo = _refs(paths)
    seen: set[str] = set()
    while todo:
        while todo:
            ref = todo.pop()
            if ref in seen:
                continue
            seen.add(ref)
            _, _, kind, name = ref.split("/", 3)
            value = spec["components"][kind][name.replace("~1", "/").replace("~0", "~")]
            components.setdefault(kind, {})[name] = value
            todo |= _refs(value) - seen
        if subtypes:
            extending = _subtypes(spec, set(components.get("schemas", {})))
            todo = {f"#/components/schemas/{name}" for name in extending} - seen
    if "securitySchemes" in spec.get("components", {}):
        components["securitySchemes"] = spec["components"]["securitySchemes"]
    out = {k: spec[k] for k in ("openapi", "info", "servers") if k in spec}
    out["x-cmlinfra-subset"] = {
        "source": source,
        "note": "Generated by scripts/forge-spec-subset.py: the operations cmlinfra's forge "
        "drivers call, with the components they reference. Do not edit by hand.",
    }
    out["paths"] = paths
    out["components"] = {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
    return out


GITLAB_V2_ERRATA = {
    # The v3 description (as normalized) describes these as multipart uploads of one ``file``
    # field, which the real API does not take; GitLab's own Swagger 2.0 description has the
    # real request (a JSON body with ``actions``; ``ref`` in the query).
    (P + "/repository/commits", "post"),
    (P + "/repository/files/{file_path}", "head"),
}


GITLAB_SCHEMA_ERRATA = {
    # (schema, property): the property's real schema. Both GitLab descriptions type a
    # runner's ``groups`` (and ``projects``) as one object and ``tag_list`` as a string; the
    # API answers arrays (GitLab's REST docs for GET /runners/:id show them). The sweep of a
    # subgroup's runners reads ``groups`` to tell its own runners from its ancestors'.
    ("APIEntitiesCiRunnerDetails", "groups"): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/APIEntitiesBasicGroupDetails"},
    },
    ("APIEntitiesCiRunnerDetails", "projects"): {
        "type": "array",
        "items": {"$ref": "#/components/schemas/APIEntitiesBasicProjectDetails"},
    },
    ("APIEntitiesCiRunnerDetails", "tag_list"): {"type": "array", "items": {"type": "string"}},
}


def apply_gitlab_schema_errata(spec: dict[str, Any]) -> None:
    for (name, prop), value in sorted(GITLAB_SCHEMA_ERRATA.items()):
        schema = spec["components"]["schemas"][name]
        if schema["properties"][prop] == value:
            raise SystemExit(f"GitLab erratum no longer needed: {name}.{prop} is described")
        schema["properties"][prop] = value
        schema.setdefault("x-cmlinfra-erratum", []).append(
            f"property {prop}: an array in the real API's answers, not as described"
        )


def _v2_request(op: dict[str, Any], v2: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3 ``parameters`` + ``requestBody`` from a Swagger 2.0 operation."""
    out: dict[str, Any] = {"parameters": []}
    for param in op.get("parameters", []):
        if param["in"] == "body":
            schema = param["schema"]
            if "$ref" in schema:
                schema = v2["definitions"][schema["$ref"].split("/")[-1]]
            out["requestBody"] = {
                "required": bool(param.get("required")),
                "content": {"application/json": {"schema": schema}},
            }
        else:
            keep = {k: param[k] for k in ("name", "in", "description", "required") if k in param}
            keep["schema"] = {"type": param.get("type", "string")}
            out["parameters"].append(keep)
    return out


def apply_gitlab_errata(spec: dict[str, Any], v2: dict[str, Any]) -> None:
    for path, method in sorted(GITLAB_V2_ERRATA):
        op = spec["paths"][path][method]
        op.pop("requestBody", None)
        op.update(_v2_request(v2["paths"][path][method], v2))
        op["x-cmlinfra-erratum"] = (
            "request taken from GitLab's Swagger 2.0 description (doc/api/openapi/openapi_v2.yaml)"
        )


def github_spec(tgz: Path | None) -> dict[str, Any]:
    (spec,) = read_members(GITHUB_PACKAGE, ["package/generated/api.github.com.json"], tgz)
    return json.loads(spec)  # type: ignore[no-any-return]


def write(name: str, spec: dict[str, Any], out: Path) -> None:
    path = out / f"{name}.json"
    path.write_text(json.dumps(spec, indent=1, sort_keys=False) + "\n")
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--github-tgz", type=Path, help="an npm pack tarball of " + GITHUB_PACKAGE)
    parser.add_argument(
        "--gitlab", type=Path, default=Path("/work/shared/specs/gitlab-openapi-v3-normalized.yaml")
    )
    parser.add_argument(
        "--gitlab-v2", type=Path, default=Path("/work/shared/specs/gitlab-openapi.yaml")
    )
    parser.add_argument(
        "--bitbucket", type=Path, default=Path("/work/shared/specs/bitbucket-openapi.json")
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    write("github", subset(github_spec(args.github_tgz), GITHUB_OPS, GITHUB_PACKAGE), args.out)

    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    gitlab = yaml.load(args.gitlab.read_text(), Loader=loader)
    source = (
        "GitLab REST API OpenAPI v3 (doc/api/openapi/openapi_v3.yaml, gitlab-org/gitlab), "
        "normalized copy from github.com/laconicman/swift-gitlab@f2dcdc7e; CC BY-SA 4.0 — "
        "this subset is a derivative and stays under CC BY-SA 4.0 with attribution to GitLab"
    )
    gitlab_subset = subset(gitlab, GITLAB_OPS, source)
    v2 = yaml.load(args.gitlab_v2.read_text(), Loader=loader)
    apply_gitlab_errata(gitlab_subset, v2)
    apply_gitlab_schema_errata(gitlab_subset)
    write("gitlab", gitlab_subset, args.out)

    bitbucket = json.loads(args.bitbucket.read_text())
    apply_bitbucket_errata(bitbucket)
    source = (
        "Atlassian Bitbucket Cloud REST API 2.0 OpenAPI 3 (swagger.v3.json, x-revision "
        f"{bitbucket['info'].get('x-revision', '?')}), copy from github.com/scr2em/bitbucket-cli"
    )
    write("bitbucket", subset(bitbucket, BITBUCKET_OPS, source, subtypes=True), args.out)


if __name__ == "__main__":
    main()
