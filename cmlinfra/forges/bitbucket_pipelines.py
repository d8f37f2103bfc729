"""Bitbucket Pipelines: running a pipeline again (``workflow rerun``) and the steps a reclaimed
spot runner lost (``gc``).

Bitbucket's API re-runs neither one step nor a pipeline in place. A pipeline runs again as a
new one, started with the old one's ``target`` (what Atlassian's own IDE extension does for
"Rerun pipeline"): a new build number, every step again. Nor does a step say which runner ran
it, so gc looks in one place only: the pipeline whose step launched the runner (``runner
launch`` in a Bitbucket step records ``BITBUCKET_PIPELINE_UUID``). Its steps other than the
launching one that started after the runner's record was written and ended failed, stopped or
in error are the lost ones, and the whole pipeline is started again once, launch step
included, which launches a runner for the others (what makes a pipeline a re-run of
another: :mod:`cmlinfra.forges.bitbucket_reruns`). Every id from the command line, the
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
from cmlinfra.forges.bitbucket_reruns import rerun_already, target_of, variables_of
from cmlinfra.forges.github_jobs import epoch
from cmlinfra.forges.http import ForgeHTTP

LOST = ("FAILED", "STOPPED", "ERROR")  # a step's result when its runner vanished mid-step
_HEX_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


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
    body: dict[str, Any] = {"type": "pipeline", "target": target_of(old, number)}
    variables, secured = variables_of(old)
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
    retried = rerun_already(http, repo, pipeline, number) if found else ""
    return [replace(job, retried=retried) for job in found]


def _launch_step(value: str) -> str:
    """The launching step's UUID as the API writes it ("" if the record holds none)."""
    try:
        return braced_uuid(value, "launching step") if value else ""
    except UsageError:
        return ""  # never equal to a step's: every step is looked at
