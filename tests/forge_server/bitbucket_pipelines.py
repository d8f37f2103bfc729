"""The fake Bitbucket's pipelines: listing (with the ``target.*`` filters), one pipeline (by
UUID, or by build number as the real API also answers), its steps (all, or one by UUID), and
starting one. Tests
plant pipelines in ``Repo.pipelines``; a start adds a new pending pipeline with the next build
number, so a second look sees it. A create is held to what Atlassian documents it takes: a
known target type with that type's fields, variables only for a custom pipeline."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.forge_server.messages import Invalid, NotFound, Reply, Req
from tests.forge_server.state import Repo, StoredPipeline, StoredStep

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

B = "/repositories/{workspace}/{repo_slug}"
# the fields a create takes per target type (the API description's examples)
TARGET_FIELDS = {
    "pipeline_ref_target": {"type", "ref_type", "ref_name", "commit", "selector"},
    "pipeline_commit_target": {"type", "commit", "selector"},
    "pipeline_pullrequest_target": {
        "type",
        "source",
        "destination",
        "destination_commit",
        "commit",
        "pullrequest",
        "selector",
    },
}


def _repo(server: ForgeServer, req: Req) -> Repo:
    from tests.forge_server.bitbucket import _repo

    return _repo(server, req)


def _state(prefix: str, name: str, result: str) -> dict[str, Any]:
    """A pipeline's or a step's state as Bitbucket writes it (``type`` names the schema)."""
    state: dict[str, Any] = {"type": f"{prefix}_{name.lower()}", "name": name}
    if name == "COMPLETED":
        state["result"] = {"type": f"{prefix}_completed_{result.lower()}", "name": result}
    elif name == "IN_PROGRESS" and prefix == "pipeline_state":
        state["stage"] = {"type": "pipeline_state_in_progress_running", "name": "RUNNING"}
    return state


def _pipeline(p: StoredPipeline) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "pipeline",
        "uuid": p.uuid,
        "build_number": p.build_number,
        "target": p.target,
        "state": _state("pipeline_state", p.state, p.result),
        "created_on": p.created_on,
        "variables": [
            {**v, "type": "pipeline_variable", "value": "" if v.get("secured") else v["value"]}
            for v in p.variables
        ],
    }
    if p.trigger:
        name = p.trigger.removeprefix("pipeline_trigger_").upper()
        body["trigger"] = {"type": p.trigger, "name": name}
    if p.state == "COMPLETED":
        body["completed_on"] = p.created_on
    return body


def _step(s: StoredStep) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "pipeline_step",
        "uuid": s.uuid,
        "name": s.name,
        "state": _state("pipeline_step_state", s.state, s.result),
    }
    if s.started_on:
        body["started_on"] = s.started_on
    return body


def _find(repo: Repo, ref: str) -> StoredPipeline:
    found = [p for p in repo.pipelines if ref in (p.uuid, str(p.build_number))]
    if not found:
        raise NotFound(f"No pipeline with the UUID {ref}")
    return found[0]


def _matches(p: StoredPipeline, query: dict[str, str]) -> bool:
    target: dict[str, Any] = p.target
    wanted = {
        "target.commit.hash": (target.get("commit") or {}).get("hash"),
        "target.ref_name": target.get("ref_name"),
        "target.selector.pattern": (target.get("selector") or {}).get("pattern"),
    }
    return all(query[k] == v for k, v in wanted.items() if k in query)


def list_pipelines(server: ForgeServer, req: Req) -> Reply:
    from tests.forge_server.bitbucket import _page

    repo = _repo(server, req)
    found = [p for p in sorted(repo.pipelines, key=lambda p: p.build_number)]
    return _page(req, [_pipeline(p) for p in found if _matches(p, req.query)])


def get_pipeline(server: ForgeServer, req: Req) -> Reply:
    return Reply(200, _pipeline(_find(_repo(server, req), req.params["pipeline_uuid"])))


def list_steps(server: ForgeServer, req: Req) -> Reply:
    from tests.forge_server.bitbucket import _page

    pipeline = _find(_repo(server, req), req.params["pipeline_uuid"])
    return _page(req, [_step(s) for s in pipeline.steps])


def get_step(server: ForgeServer, req: Req) -> Reply:
    pipeline = _find(_repo(server, req), req.params["pipeline_uuid"])
    found = [s for s in pipeline.steps if s.uuid == req.params["step_uuid"]]
    if not found:
        raise NotFound(f"No step with the UUID {req.params['step_uuid']}")
    return Reply(200, _step(found[0]))


def create_pipeline(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json() or {}
    extra = set(data) - {"type", "target", "variables"}
    target = data.get("target") or {}
    kind = target.get("type")
    if extra or kind not in TARGET_FIELDS:
        raise Invalid(f"invalid properties: {sorted(extra) or kind}")
    if set(target) - TARGET_FIELDS[kind]:
        raise Invalid(f"invalid target properties: {sorted(set(target) - TARGET_FIELDS[kind])}")
    variables = data.get("variables") or []
    if variables and (target.get("selector") or {}).get("type") != "custom":
        raise Invalid("variables are only accepted for custom pipelines")
    pipeline = StoredPipeline(
        uuid="{" + str(uuid.uuid4()) + "}",
        build_number=max([0, *(p.build_number for p in repo.pipelines)]) + 1,
        target=target,
        state="PENDING",
        variables=[{k: v for k, v in var.items() if k != "type"} for var in variables],
        trigger="pipeline_trigger_manual",  # what Bitbucket says of one started through its API
    )
    repo.pipelines.append(pipeline)
    return Reply(201, _pipeline(pipeline))


ROUTES = {
    ("get", B + "/pipelines"): list_pipelines,
    ("post", B + "/pipelines"): create_pipeline,
    ("get", B + "/pipelines/{pipeline_uuid}"): get_pipeline,
    ("get", B + "/pipelines/{pipeline_uuid}/steps"): list_steps,
    ("get", B + "/pipelines/{pipeline_uuid}/steps/{step_uuid}"): get_step,
}


def plant(
    repo: Repo,
    build_number: int,
    commit: str,
    *,
    state: str = "COMPLETED",
    result: str = "FAILED",
    selector: dict[str, str] | None = None,
    steps: list[StoredStep] | None = None,
    variables: list[dict[str, object]] | None = None,
    target: dict[str, object] | None = None,
    trigger: str = "",
) -> StoredPipeline:
    """A pipeline on branch ``main`` at ``commit`` (or on ``target``), as a test needs one."""
    pipeline = StoredPipeline(
        uuid="{" + str(uuid.uuid4()) + "}",
        build_number=build_number,
        target=target
        or {
            "type": "pipeline_ref_target",
            "ref_type": "branch",
            "ref_name": "main",
            "commit": {"type": "commit", "hash": commit},
            "selector": selector or {"type": "branches", "pattern": "main"},
        },
        state=state,
        result=result,
        variables=list(variables or []),
        steps=list(steps or []),
        trigger=trigger,
    )
    repo.pipelines.append(pipeline)
    return pipeline


def step(name: str, result: str = "SUCCESSFUL", state: str = "COMPLETED", **kw: Any) -> StoredStep:
    """A step (a fresh UUID) that ended with ``result``, or is ``state``."""
    return StoredStep("{" + str(uuid.uuid4()) + "}", name, state, result, **kw)
