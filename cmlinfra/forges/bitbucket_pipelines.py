"""Bitbucket Pipelines: running a pipeline again (``workflow rerun``) and the steps a reclaimed
spot runner lost (``gc``).

Bitbucket's API re-runs neither one step nor a pipeline in place. A pipeline runs again as a
new one, started with the old one's ``target`` (what Atlassian's own IDE extension does for
"Rerun pipeline"): a new build number, every step again. Nor does a step say which runner ran
it, so gc looks in one place only: the pipeline whose step launched the runner (``runner
launch`` in a Bitbucket step records ``BITBUCKET_PIPELINE_UUID``). Its steps other than the
launching one that started after the runner's record was written and ended failed, stopped or
in error are the lost ones, and the whole pipeline is started again once, launch step
included, which launches a runner for the others. Every id from the command line, the
registry or the API is checked before it goes into a URL (:mod:`cmlinfra.forges.paths`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.forges import paths
from cmlinfra.forges.base import LostJob, Unsupported
from cmlinfra.forges.github_jobs import epoch
from cmlinfra.forges.http import ForgeHTTP

LOST = ("FAILED", "STOPPED", "ERROR")  # a step's result when its runner vanished mid-step
_HEX_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# per target type, the fields a create takes (what a GET answers holds more: a commit's links,
# a pull request's title, …); the selector keeps a custom pipeline custom
_TARGET = {
    "pipeline_ref_target": ("ref_type", "ref_name", "commit", "selector"),
    "pipeline_commit_target": ("commit", "selector"),
    "pipeline_pullrequest_target": (
        "source",
        "destination",
        "destination_commit",
        "commit",
        "pullrequest",
        "selector",
    ),
}


def braced_uuid(value: object, what: str) -> str:
    """``{UUID}``, as Bitbucket writes its ids, from a UUID with or without its braces."""
    text = str(value).strip()
    core = text[1:-1] if text[:1] == "{" and text[-1:] == "}" else text
    if not _HEX_UUID.fullmatch(core):
        raise UsageError(f"{what} {text!r} is not a UUID", "give a UUID such as {1b4e28ba-…}")
    return "{" + core.lower() + "}"


def plain_uuid(value: object) -> str:
    """A UUID without its braces, lower case, as a registry key names a pipeline ("" when
    ``value`` is none)."""
    try:
        return braced_uuid(value, "uuid")[1:-1]
    except UsageError:
        return ""


def pipeline_ref(value: str, what: str = "pipeline") -> str:
    """A pipeline's path segment: its UUID (braced, encoded) or its build number (Bitbucket
    answers one at the same address; its description names only the UUID)."""
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        return paths.number(text, f"{what} build number")
    try:
        return paths.uuid(braced_uuid(text, what), what)
    except UsageError:
        raise UsageError(
            f"{what} {text!r} is neither a pipeline UUID nor a build number",
            "give --id {UUID} (BITBUCKET_PIPELINE_UUID) or a build number",
        ) from None


def _number(pipeline: dict[str, Any]) -> str:
    return paths.number(pipeline.get("build_number", ""), "pipeline build number")


def _state(pipeline: dict[str, Any]) -> tuple[str, str]:
    state = pipeline.get("state") or {}
    return str(state.get("name") or ""), str((state.get("result") or {}).get("name") or "")


def _target(old: dict[str, Any], number: str) -> dict[str, Any]:
    """The old pipeline's target, with only what a create takes."""
    target = old.get("target") or {}
    kind = target.get("type", "")
    if kind not in _TARGET:
        raise CmlinfraError(
            f"pipeline {number} runs on a target of type {kind or '?'!r}, which cmlinfra "
            "cannot start again",
            "re-run it from Bitbucket's web UI",
        )
    out: dict[str, Any] = {"type": kind}
    for name in _TARGET[kind]:
        value = target.get(name)
        if not value:
            continue
        if name in ("commit", "destination_commit"):
            value = {"type": "commit", "hash": paths.sha(str(value.get("hash", "")))}
        elif name == "selector":
            value = {k: value[k] for k in ("type", "pattern") if value.get(k)}
        elif name == "pullrequest":
            value = {"id": str(value.get("id", ""))}
        out[name] = value
    return out


def _variables(old: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """A custom pipeline's variables the new one gets (the create takes them for custom
    pipelines only), and the names of the secured ones, whose values the API never shows."""
    selector = (old.get("target") or {}).get("selector") or {}
    if selector.get("type") != "custom":
        return [], []
    given, secured = [], []
    for var in old.get("variables") or []:
        if var.get("secured"):
            secured.append(str(var.get("key", "")))
        elif var.get("key"):
            given.append(
                {
                    "type": "pipeline_variable",
                    "key": var["key"],
                    "value": str(var.get("value") or ""),
                }
            )
    return given, secured


def rerun(http: ForgeHTTP, repo: str, web: str, run_id: str) -> dict[str, str]:
    """Start pipeline ``run_id`` (UUID or build number) again as a new pipeline with its
    target; refuses one still running (a second copy would do the same work twice)."""
    ref = pipeline_ref(run_id)
    answer = http.request("GET", f"{repo}/pipelines/{ref}", allow=(404,))
    if answer.status_code == 404:
        raise CmlinfraError(
            f"no pipeline {run_id} in {repo.removeprefix('/repositories/')}, or the token "
            "cannot see it (HTTP 404)",
            "check --id (a pipeline UUID or build number) and --repo",
        )
    old = answer.json()
    number = _number(old)
    state, _ = _state(old)
    if state != "COMPLETED":
        raise CmlinfraError(
            f"pipeline {number} has not finished ({state or 'no state'}): a new one now "
            "would run the same steps twice",
            "wait until it ends, or stop it in Bitbucket first",
        )
    body: dict[str, Any] = {"type": "pipeline", "target": _target(old, number)}
    variables, secured = _variables(old)
    if variables:
        body["variables"] = variables
    new = http.json("POST", f"{repo}/pipelines", json=body)
    started = _number(new)
    note = (
        f"without its secured variables {', '.join(secured)} (Bitbucket never shows their "
        "values; set them as repository or deployment variables)"
        if secured
        else ""
    )
    return {
        "rerun_of": number,
        "pipeline": started,
        "uuid": str(new.get("uuid") or ""),
        "url": f"{web}/pipelines/results/{started}",
        "note": note,
    }


def lost_steps(
    http: ForgeHTTP, repo: str, web: str, since: float, launched_by: dict[str, str]
) -> list[LostJob]:
    """The steps of the pipeline that launched the runner (``launched_by``: ``run`` its UUID,
    ``step`` the launching step's) started at or after ``since`` that ended failed, stopped or
    in error, and those still running (``pending``, as is every one while the pipeline has
    not finished: a new pipeline then would run its steps twice)."""
    if not launched_by.get("run"):
        raise Unsupported(
            "its lost steps cannot be found: Bitbucket does not say which runner ran a step, "
            "and this runner was not launched from a Bitbucket pipeline (gc looks in that one)",
            "launch spot runners from a pipeline step, or re-run the pipeline with "
            "'cmlinfra workflow rerun --id BUILD_NUMBER'",
        )
    uuid = braced_uuid(launched_by["run"], "launching pipeline")  # the registry's: checked
    ref = paths.uuid(uuid, "launching pipeline")
    answer = http.request("GET", f"{repo}/pipelines/{ref}", allow=(404,))
    if answer.status_code == 404:  # launched from another repository's step, or deleted
        build = f", build {launched_by['build']}" if launched_by.get("build") else ""
        raise Unsupported(
            f"its lost steps cannot be found: the pipeline that launched it ({uuid}{build}) "
            f"is not in {repo.removeprefix('/repositories/')}",
            "re-run the pipeline with 'cmlinfra workflow rerun --repo URL --id BUILD_NUMBER'",
        )
    pipeline = answer.json()
    number = _number(pipeline)
    finished = _state(pipeline)[0] == "COMPLETED"
    launch = _launch_step(launched_by.get("step", ""))
    found: list[LostJob] = []
    for step in http.paginate(f"{repo}/pipelines/{ref}/steps", {"pagelen": 100}, key="values"):
        step_id = braced_uuid(step.get("uuid", ""), "step")
        started = epoch(step.get("started_on"))
        if step_id == launch or started is None or started < since:
            continue
        state, result = _state(step)
        running = state == "IN_PROGRESS"
        if not running and not (state == "COMPLETED" and result in LOST):
            continue
        pending = "it is still running at the forge" if running else ""
        if not pending and not finished:
            pending = "its pipeline has not finished (Bitbucket re-runs whole pipelines)"
        found.append(
            LostJob(
                id=step_id,
                run_id=number,
                name=str(step.get("name") or ""),
                url=f"{web}/pipelines/results/{number}/steps/{quote(step_id, safe='')}",
                conclusion=result or state,
                pending=pending,
                unit="pipeline",
                run_key=uuid,
            )
        )
    retried = _rerun_already(http, repo, pipeline, number) if found else ""
    return [replace(job, retried=retried) for job in found]


def _launch_step(value: str) -> str:
    """The launching step's UUID as the API writes it ("" if the record holds none)."""
    try:
        return braced_uuid(value, "launching step") if value else ""
    except UsageError:
        return ""  # never equal to a step's: every step is looked at


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two targets that start the same pipeline definition on the same commit and ref."""

    def key(t: dict[str, Any]) -> tuple[object, ...]:
        selector = t.get("selector") or {}
        return (
            t.get("type"),
            t.get("ref_type"),
            t.get("ref_name"),
            (t.get("commit") or {}).get("hash"),
            str((t.get("pullrequest") or {}).get("id", "")),
            selector.get("type"),
            selector.get("pattern"),
        )

    return key(a) == key(b)


def same_target(http: ForgeHTTP, repo: str, pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The other pipelines that ran ``pipeline``'s definition on its commit and ref (a re-run
    of it, or what it re-runs), oldest first; gc and ``checkpoint restore`` tell re-runs so."""
    target = pipeline.get("target") or {}
    commit = (target.get("commit") or {}).get("hash")
    if not commit:
        return []
    query = {"target.commit.hash": commit, "pagelen": 100}
    if target.get("ref_name"):
        query["target.ref_name"] = target["ref_name"]
    found = []
    for other in http.paginate(f"{repo}/pipelines", query, key="values"):
        built = other.get("build_number")
        if not isinstance(built, int) or built == pipeline.get("build_number"):
            continue
        if _same(other.get("target") or {}, target):
            found.append(other)
    return sorted(found, key=lambda other: int(other["build_number"]))


def may_rerun(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Whether pipeline ``new``, on ``old``'s target, can be a re-run of it: one started
    through the API (a manual trigger; an answer without a trigger is given the benefit of the
    doubt) with ``old``'s variables, as :func:`rerun` starts it. A schedule's nightly run on an
    unchanged branch, or a custom pipeline run again by hand with other variables, is not."""
    kind = str((new.get("trigger") or {}).get("type") or "")
    if kind and kind != "pipeline_trigger_manual":
        return False
    plain = [sorted((v["key"], v["value"]) for v in _variables(p)[0]) for p in (new, old)]
    return plain[0] == plain[1]


def _rerun_already(http: ForgeHTTP, repo: str, pipeline: dict[str, Any], number: str) -> str:
    """Why pipeline ``number`` is not started again ("" when it may be): a later pipeline
    with its target (someone, or an earlier gc, re-ran it), or an earlier one (it is itself a
    re-run): a pipeline is re-run once, not once per reclaim."""
    others = [(int(other["build_number"]), other) for other in same_target(http, repo, pipeline)]
    later = [built for built, other in others if built > int(number) and may_rerun(other, pipeline)]
    if later:
        return f"already re-run as pipeline {later[0]} (a later pipeline on its commit and ref)"
    earlier = [
        built for built, other in others if built < int(number) and may_rerun(pipeline, other)
    ]
    if earlier:
        return f"itself a re-run of pipeline {earlier[-1]} (an earlier one on its commit and ref)"
    return ""
