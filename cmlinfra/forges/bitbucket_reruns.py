"""What makes one Bitbucket pipeline a re-run of another. Bitbucket re-runs nothing in place:
``workflow rerun`` and gc start a new pipeline with the old one's target (the same pipeline
definition on the same commit and ref) and a custom pipeline's variables, and that is all a
re-run shares with what it re-runs. So the same two things tell a re-run afterwards: gc, that
a lost pipeline was re-run already (once, not once per reclaim), and ``checkpoint restore``,
which earlier pipeline's checkpoint a step of the new one takes.
"""

from __future__ import annotations

from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import paths
from cmlinfra.forges.http import ForgeHTTP

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


def target_of(old: dict[str, Any], number: str) -> dict[str, Any]:
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


def variables_of(old: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
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
    doubt) with ``old``'s variables, as ``bitbucket_pipelines.rerun`` starts it. A schedule's
    nightly run on an unchanged branch, or a custom pipeline run again by hand with other
    variables, is not."""
    kind = str((new.get("trigger") or {}).get("type") or "")
    if kind and kind != "pipeline_trigger_manual":
        return False
    plain = [sorted((v["key"], v["value"]) for v in variables_of(p)[0]) for p in (new, old)]
    return plain[0] == plain[1]


def rerun_already(http: ForgeHTTP, repo: str, pipeline: dict[str, Any], number: str) -> str:
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
