"""``checkpoint restore`` in a Bitbucket step: which lost step's checkpoint is this step's.

gc re-runs a pipeline whose step a reclaimed runner lost as a new pipeline (Bitbucket re-runs
nothing in place), and the new pipeline's variables share nothing with the old one's (a new
pipeline UUID, build number and step UUIDs). What the two share is the pipeline definition, on
the same commit and ref, and the step's name. So gc keeps the archive under the lost
pipeline's UUID and the step's name (checkpoints.keep_for_rerun) before it starts the new
pipeline, and the new pipeline's step asks the API for its own name and for the pipeline it
re-runs: an earlier pipeline on the same commit, ref and selector that this one can be a
re-run of, the rule by which gc tells a re-run (bitbucket_reruns.same_target, may_rerun),
the newest whose key holds a checkpoint. Keeping the archive under the old pipeline, before
the new one exists, leaves the new pipeline's steps no race with gc.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.runner.checkpoint_urls import KeyStore

NAMES = "BITBUCKET_PIPELINE_UUID and BITBUCKET_STEP_UUID"


@dataclass(frozen=True)
class StepKey:
    """Where this step's checkpoint waits (``key``, None when there is none to look for), and
    how to say which step it is."""

    key: str | None
    what: str  # "step NAME of pipeline N"
    why: str = ""  # why there is no key


def in_pipelines(env: Mapping[str, str]) -> bool:
    return env.get("CI") == "true" and bool(env.get("BITBUCKET_BUILD_NUMBER"))


def step_key(store: Any, env: Mapping[str, str]) -> StepKey:
    """This step's key, from its environment and the forge's API (the token as every command
    takes it: REPO_TOKEN or BITBUCKET_TOKEN)."""
    from cmlinfra.forges import connect, paths
    from cmlinfra.forges.bitbucket_pipelines import braced_uuid
    from cmlinfra.forges.bitbucket_reruns import may_rerun, same_target
    from cmlinfra.forges.context import detect

    if not all(env.get(name, "").strip() for name in NAMES.split(" and ")):
        raise UsageError(f"{NAMES} are not both set", "run it as a step of a Bitbucket pipeline")
    pipeline = braced_uuid(env["BITBUCKET_PIPELINE_UUID"], "BITBUCKET_PIPELINE_UUID")
    step = braced_uuid(env["BITBUCKET_STEP_UUID"], "BITBUCKET_STEP_UUID")
    context = detect(env, driver="bitbucket", token_option=None)  # restore takes no --token
    forge: Any = connect(context)
    ref = paths.uuid(pipeline, "pipeline")
    current = forge.http.json("GET", f"{forge.repo}/pipelines/{ref}")
    ours = forge.http.json("GET", f"{forge.repo}/pipelines/{ref}/steps/{paths.uuid(step, 'step')}")
    name = str(ours.get("name") or "")
    number = str(current.get("build_number") or "?")
    what = f"step {name or '?'} of pipeline {number}"
    if not name:
        return StepKey(None, what, "the step has no name (give it one: gc keys it by its name)")
    steps = forge.http.paginate(
        f"{forge.repo}/pipelines/{ref}/steps", {"pagelen": 100}, key="values"
    )
    twins = sum(str(other.get("name") or "") == name for other in steps)
    if twins > 1:  # parallel steps of one name: whose checkpoint is whose cannot be told
        return StepKey(None, what, f"{twins} of its steps are named {name!r}")
    earlier = [
        other
        for other in same_target(forge.http, forge.repo, current)
        if isinstance(current.get("build_number"), int)
        and int(other["build_number"]) < int(current["build_number"])
        and may_rerun(current, other)
    ]
    if not earlier:
        return StepKey(None, what, "it re-runs no earlier pipeline")
    # the newest earlier one whose key holds a checkpoint (a schedule's run may have started
    # on the same commit between the lost pipeline and gc's re-run of it), else the newest
    found = [(other, _key(store, context.repo, other, name)) for other in earlier[::-1][:10]]
    old, key = next(((o, k) for o, k in found if k and _held(store, k)), found[0])
    return StepKey(key, f"{what}, a re-run of pipeline {old['build_number']}", "")


def _key(store: Any, repo: str, pipeline: dict[str, Any], name: str) -> str | None:
    from cmlinfra.forges.bitbucket_pipelines import plain_uuid
    from cmlinfra.runner.checkpoints import job_key

    lost = plain_uuid(pipeline.get("uuid"))
    return job_key(store, "bitbucket", repo, lost, name) if lost else None


def _held(store: KeyStore, key: str) -> bool:
    """Whether gc kept a checkpoint (or the marker of two) at ``key``; not when the registry
    cannot answer (the newest candidate's read then says why), but a bug is no answer."""
    from cmlinfra.runner.checkpoints import ambiguous_key

    try:
        return any(store.key_metadata(k) is not None for k in (key, ambiguous_key(key)))
    except store.failures():  # unreadable: the checkpoint's own read says what is wrong
        return False
