"""``pr create --merge/--squash/--rebase`` on GitHub: auto-merge, not an immediate merge.

Merging right after creating the PR (REST ``PUT /pulls/{n}/merge``) fails on a protected
branch whose required checks have not run yet, and merges untested code everywhere else. So the
PR is set to *auto-merge* — GitHub merges it once its required checks pass — with the GraphQL
mutation ``enablePullRequestAutoMerge`` (auto-merge has no REST endpoint). The mutation carries
the head commit we wrote (``expectedHeadOid``): a push to the branch in between is never merged
unseen.

GitHub refuses auto-merge when there is nothing to wait for: the PR is already mergeable
(``clean``, or ``unstable``/``has_hooks`` — required checks passed), or its base branch is not
protected ("Protected branch rules not configured for this branch": no required checks will
ever run, the commonest first run). Then it is merged directly, with the same head-commit guard
(REST ``sha``). Any other refusal is a one-line error that says the PR stays open; the
commonest, a repository that does not allow auto-merge, names the setting to turn on.

GraphQL answers HTTP 200 with an ``errors`` array for refusals, so the status alone says
nothing; :func:`graphql` turns that array into :class:`GraphQLRefusal`.
"""

from __future__ import annotations

import re
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import paths
from cmlinfra.forges.base import AutoMerge, MergeOutcome
from cmlinfra.forges.http import ForgeHTTP, left_open, merge_refused
from cmlinfra.secrets import redact

ENABLE_AUTO_MERGE = """
mutation EnableAutoMerge(
  $pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID
) {
  enablePullRequestAutoMerge(input: {
    pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid
  }) {
    pullRequest { number autoMergeRequest { mergeMethod enabledAt } }
  }
}
"""

# GitHub's refusal when the PR can be merged right now ("Pull request Pull request is in clean
# status"): the merge-state statuses in which required checks have passed.
_MERGEABLE_NOW = re.compile(r"is in (clean|unstable|has_hooks) status", re.IGNORECASE)
_NOT_ALLOWED = re.compile(r"auto[- ]?merge is not allowed", re.IGNORECASE)
# ... when the base branch has no protection: no required check will ever be waited for
_UNPROTECTED = re.compile(r"protected branch rules not configured", re.IGNORECASE)


class GraphQLRefusal(CmlinfraError):
    """GitHub answered with an ``errors`` array: the operation was not carried out."""

    def __init__(self, messages: list[str], types: list[str]) -> None:
        self.messages, self.types = messages, types
        super().__init__(f"GitHub GraphQL refused: {'; '.join(messages)}")

    @property
    def text(self) -> str:
        return "; ".join(self.messages)


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint next to its REST API: ``https://api.github.com/graphql``,
    or ``https://HOST/api/graphql`` on Enterprise Server (REST at ``https://HOST/api/v3``)."""
    api_url = api_url.rstrip("/")
    if api_url.endswith("/api/v3"):
        return api_url.removesuffix("/v3") + "/graphql"
    return api_url + "/graphql"


def graphql(http: ForgeHTTP, url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """``data`` of one GraphQL request; HTTP failures are mapped by ``http`` as for REST,
    an ``errors`` array (HTTP 200) raises :class:`GraphQLRefusal`."""
    body = http.json("POST", url, json={"query": query, "variables": variables})
    errors = body.get("errors") if isinstance(body, dict) else [{"message": "no JSON body"}]
    if errors:
        messages = [redact(str(e.get("message", e))) for e in errors if isinstance(e, dict)]
        types = [str(e.get("type", "")) for e in errors if isinstance(e, dict)]
        raise GraphQLRefusal(messages or [redact(str(errors))], types)
    data = body.get("data")
    return data if isinstance(data, dict) else {}


def merge_when_ready(
    http: ForgeHTTP,
    *,
    repo_path: str,
    pull: dict[str, Any],
    method: AutoMerge,
    head_sha: str,
) -> tuple[MergeOutcome, str]:
    """Enable auto-merge on ``pull`` (the REST PR object), or merge it now when GitHub says
    there is nothing to wait for. Returns what happened, and why when it is unusual."""
    number, url = pull["number"], pull.get("html_url", "")
    flag = f"--{method}"
    try:
        data = graphql(
            http,
            graphql_url(http.base_url),
            ENABLE_AUTO_MERGE,
            {
                "pullRequestId": pull["node_id"],
                "mergeMethod": method.upper(),
                "expectedHeadOid": head_sha,
            },
        )
    except GraphQLRefusal as refusal:
        if _MERGEABLE_NOW.search(refusal.text):
            merge_now(http, repo_path=repo_path, pull=pull, method=method, head_sha=head_sha)
            return "merged", ""
        if _UNPROTECTED.search(refusal.text):
            merge_now(http, repo_path=repo_path, pull=pull, method=method, head_sha=head_sha)
            base = (pull.get("base") or {}).get("ref") or "the base branch"
            return "merged", f"no required checks on {base}"
        left = left_open(f"PR #{number}", url)
        if _NOT_ALLOWED.search(refusal.text):
            raise CmlinfraError(
                f"GitHub refused auto-merge: {refusal.text}; {left}",
                'enable "Allow auto-merge" in the repository settings (Settings → General → '
                f"Pull Requests) and re-run, or drop {flag}",
            ) from None
        if "FORBIDDEN" in refusal.types or "not accessible" in refusal.text.lower():
            raise CmlinfraError(
                f"GitHub refused auto-merge: {refusal.text}; {left}",
                "add `permissions: contents: write, pull-requests: write` to the workflow job, "
                f"or set REPO_TOKEN to a token that has them, or drop {flag}",
            ) from None
        raise CmlinfraError(
            f"GitHub refused auto-merge: {refusal.text}; {left}",
            f"fix what GitHub names and merge the PR by hand, or drop {flag}",
        ) from None
    except CmlinfraError as failed:  # HTTP: 401, 403 without permission, 5xx after retries
        raise CmlinfraError(
            f"{failed.problem}; {left_open(f'PR #{number}', url)}", failed.fix
        ) from None
    confirmed = (data.get("enablePullRequestAutoMerge") or {}).get("pullRequest") or {}
    if not confirmed.get("autoMergeRequest"):
        raise CmlinfraError(
            f"GitHub did not confirm auto-merge on PR #{number} ({url})",
            "check the PR on GitHub and merge it by hand if needed",
        )
    return "auto-merge-enabled", ""


def merge_now(
    http: ForgeHTTP, *, repo_path: str, pull: dict[str, Any], method: AutoMerge, head_sha: str
) -> None:
    """REST merge, only if the head is still ``head_sha``. A refusal (405: not mergeable,
    e.g. a required check expected or a conflict; 409: the head moved) leaves the PR open."""
    number, url = pull["number"], pull.get("html_url", "")
    response = http.request(
        "PUT",
        f"{repo_path}/pulls/{paths.number(number, 'pull request')}/merge",
        json={"merge_method": method, "sha": head_sha},
        allow=(405, 409),
    )
    fix = {
        409: "its branch was pushed to after it was opened: review the new commits and merge "
        "the PR by hand",
        405: "do what GitHub names (a required check, a review, a conflict) and merge the PR by "
        f"hand, or drop --{method}",
    }.get(response.status_code)
    if fix is not None:
        raise merge_refused("GitHub", response, pull=f"PR #{number}", url=url, fix=fix)
