"""``pr create --merge/--squash`` on GitLab: set the merge request to merge when its pipeline
succeeds, with a guard against pushes made in between; and the one reading of a merge request
answer that gitlab.py shares with it.
"""

from __future__ import annotations

from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import paths
from cmlinfra.forges.base import AutoMerge, PullRequest
from cmlinfra.forges.http import ForgeHTTP, left_open, merge_refused


def merge(http: ForgeHTTP, project: str, mr: PullRequest, method: AutoMerge) -> PullRequest:
    """Merge when the pipeline succeeds, or at once if there is none to wait for. Both
    flags are sent: ``auto_merge`` (GitLab ≥ 17.11) and the older
    ``merge_when_pipeline_succeeds`` — a server that knows only the older one would
    otherwise ignore ``auto_merge`` and merge untested code at once. ``sha``: a push in
    between is never merged unseen. What happened is read from GitLab's answer."""
    pull = f"MR !{mr.number}"
    response = http.request(
        "PUT",
        f"{project}/merge_requests/{paths.number(mr.number, 'merge request')}/merge",
        json={
            "auto_merge": True,
            "merge_when_pipeline_succeeds": True,
            "squash": method == "squash",
            **({"sha": mr.head_sha} if mr.head_sha else {}),
        },
        allow=(405, 409, 422),
    )
    if response.status_code != 200:  # 405/422: not mergeable (draft, conflict, …); 409: sha
        fix = (
            "its branch was pushed to after it was opened: review the new commits and "
            "merge the MR by hand"
            if response.status_code == 409
            else "do what GitLab names (a conflict, a draft, approvals, a failed pipeline) "
            f"and merge the MR by hand, or drop --{method}"
        )
        raise merge_refused("GitLab", response, pull=pull, url=mr.url, fix=fix)
    answer = response.json()
    if answer.get("state") == "merged":
        return mr_from(answer, "merged", method, reused=mr.reused)
    if answer.get("merge_when_pipeline_succeeds"):
        return mr_from(answer, "auto-merge-enabled", method, reused=mr.reused)
    raise CmlinfraError(
        f"GitLab neither merged {pull} nor set it to merge when the pipeline succeeds "
        f"(state {answer.get('state')!r}); {left_open(pull, mr.url)}",
        "check the MR on GitLab and merge it by hand",
    )


def mr_from(
    m: dict[str, Any],
    merge: str = "",
    merge_method: str = "",
    *,
    note: str = "",
    reused: bool = False,
) -> PullRequest:
    return PullRequest(
        number=int(m["iid"]),
        url=m.get("web_url", ""),
        head_branch=m.get("source_branch", ""),
        base_branch=m.get("target_branch", ""),
        head_sha=m.get("sha") or "",
        merge=merge,
        merge_method=merge_method,
        merge_note=note,
        reused=reused,
    )
