"""GitHub (github.com and Enterprise Server) over its REST API.

Assets stay on GitHub (see :mod:`cmlinfra.forges.github_git`): each file is committed,
content-addressed, to an orphan ``cmlinfra-assets`` branch and linked with its ``?raw=true``
URL, so no third-party host ever sees a report image (CML's default uploads to a public one).
``pr create --merge/--squash/--rebase`` sets the PR to auto-merge when its required checks pass
(GraphQL, see :mod:`cmlinfra.forges.github_automerge`) instead of merging untested code.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import requests

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import github_automerge, github_git
from cmlinfra.forges.base import (
    AutoMerge,
    Comment,
    FileChange,
    PullRequest,
    Runner,
    RunnerRegistration,
    Target,
)
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP, message_of
from cmlinfra.secrets import Secret

COMMENT_LIMIT = 65_536
ORG_RUNNER_TOKEN = (
    "a classic token with the admin:org scope, or a fine-grained token or GitHub App with the "
    'organization permission "Self-hosted runners: read and write" (GITHUB_TOKEN cannot)'
)

# The workflow permission each endpoint family needs, for "Resource not accessible by
# integration" (the GITHUB_TOKEN lacks it). Order matters: first match wins.
_PERMISSIONS = (
    (r"/issues/\d+/comments|/issues/comments/", "pull-requests: write"),
    (r"/check-runs", "checks: write"),
    (r"/actions/runs/", "actions: write"),
    (r"/actions/runners", "administration: write (GITHUB_TOKEN cannot; use a PAT or App token)"),
    (r"/pulls", "pull-requests: write"),
    (r"/graphql$", "contents: write, pull-requests: write"),  # auto-merge (pr create --merge)
    (r"/comments|/contents/|/git/", "contents: write"),
)


def _permission_for(url: str) -> str:
    for pattern, permission in _PERMISSIONS:
        if re.search(pattern, url):
            return permission
    return "the permission this call needs"


def _org_runner_errors(status: int, message: str, url: str) -> CmlinfraError | None:
    """Organization runners need an organization-admin token: say which, whatever GitHub's
    wording (403 for a token without the permission; 404 for an organization it cannot see)."""
    org = re.search(r"/orgs/([^/]+)/actions/runners", url)
    if org is None or status not in (401, 403, 404):
        return None
    what = f"GitHub organization {org.group(1)!r}"
    if status == 401:
        return CmlinfraError(
            f"the token was rejected by GitHub (HTTP 401: {message or 'Bad credentials'})",
            f"set REPO_TOKEN to {ORG_RUNNER_TOKEN}",
        )
    if status == 404:
        return CmlinfraError(
            f"no {what}, or the token cannot see it (HTTP 404: {message or 'Not Found'})",
            f"check --repo https://github.com/ORG; organization runners need {ORG_RUNNER_TOKEN}",
        )
    return CmlinfraError(
        f"GitHub refused to manage the runners of {what} (HTTP 403: {message or 'Forbidden'})",
        f"set REPO_TOKEN to {ORG_RUNNER_TOKEN}",
    )


def _errors(response: requests.Response) -> CmlinfraError | None:
    status, message = response.status_code, message_of(response)
    org_error = _org_runner_errors(status, message, response.request.url or "")
    if org_error is not None:
        return org_error
    if status == 401:
        return CmlinfraError(
            f"the token was rejected by GitHub (HTTP 401: {message or 'Bad credentials'})",
            "set REPO_TOKEN to a valid token with contents, pull-requests and checks write access",
        )
    if status == 403 and "not accessible by integration" in message.lower():
        permission = _permission_for(response.request.url or "")
        return CmlinfraError(
            f"GitHub refused: {message}",
            f"add `permissions: {permission}` to the workflow job, or set REPO_TOKEN to a "
            "token that has it",
        )
    return None


DEFAULT_RUNNER_GROUP = (1, "Default")  # every organization's, and every repository's runners


class GitHub:
    name = "github"
    comment_limit = COMMENT_LIMIT

    def __init__(self, context: ForgeContext) -> None:
        self.ctx = context
        token = context.token
        self.http = ForgeHTTP(
            context.api_url,
            lambda: {"Authorization": f"Bearer {token.reveal()}"},
            forge="GitHub",
            errors=_errors,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        self.repo = f"/repos/{context.repo}"
        self._asset_branch_ready = False
        # runners: the repository's own, or the organization's pool (``--repo .../ORG``)
        owner = f"/orgs/{context.repo}" if context.scope == "organization" else self.repo
        self.runners = f"{owner}/actions/runners"
        self._runner_group: tuple[int, str] | None = None  # (id, name), asked once

    # -- pull requests and comments -------------------------------------------------------
    def pr_for_commit(self, sha: str) -> PullRequest | None:
        pulls = self.http.json("GET", f"{self.repo}/commits/{sha}/pulls", params={"per_page": 100})
        open_pulls = [p for p in pulls if p.get("state") == "open"]
        best = [p for p in open_pulls if p["head"]["sha"] == sha] or open_pulls
        return _pull(best[0]) if best else None

    def _comments(self, target: Target) -> str:
        if target.kind == "commit":
            return f"{self.repo}/commits/{target.ref}/comments"
        return f"{self.repo}/issues/{target.ref}/comments"  # PRs are issues for comments

    def list_comments(self, target: Target) -> list[Comment]:
        items = self.http.paginate(self._comments(target), {"per_page": 100})
        return [_comment(c) for c in items]

    def create_comment(self, target: Target, body: str) -> Comment:
        return _comment(self.http.json("POST", self._comments(target), json={"body": body}))

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        kind = "comments" if target.kind == "commit" else "issues/comments"
        path = f"{self.repo}/{kind}/{comment.id}"
        return _comment(self.http.json("PATCH", path, json={"body": body}))

    # -- assets and PRs (git data API: cmlinfra.forges.github_git) ------------------------
    def upload_asset(self, path: Path, mime: str) -> str:
        return github_git.upload_asset(self.http, self.repo, self.ctx.repo_url, path)

    def create_pr(
        self,
        *,
        base: str,
        branch: str,
        title: str,
        body: str,
        message: str,
        files: list[FileChange],
        auto_merge: AutoMerge | None = None,
    ) -> PullRequest:
        owner = self.ctx.repo.split("/")[0]
        existing = self.http.json(
            "GET", f"{self.repo}/pulls", params={"head": f"{owner}:{branch}", "state": "open"}
        )
        if existing:  # reused: files not recommitted; set to merge if asked and not yet set
            found = existing[0]
            pull = dataclasses.replace(_pull(found), reused=True)
            if not auto_merge:
                return pull
            if found.get("auto_merge"):  # someone (an earlier run) set it already: keep it
                method = found["auto_merge"].get("merge_method") or auto_merge
                return dataclasses.replace(
                    pull, merge="auto-merge-enabled", merge_method=method, merge_note="already set"
                )
            created, sha = found, pull.head_sha
        else:
            sha = github_git.commit_files(
                self.http, self.repo, base=base, branch=branch, message=message, files=files
            )
            created = self.http.json(
                "POST",
                f"{self.repo}/pulls",
                json={"title": title, "head": branch, "base": base, "body": body},
            )
            pull = _pull(created)
        if auto_merge:
            outcome, note = github_automerge.merge_when_ready(
                self.http, repo_path=self.repo, pull=created, method=auto_merge, head_sha=sha
            )
            pull = dataclasses.replace(
                pull, merge=outcome, merge_method=auto_merge, merge_note=note
            )
        return pull

    # -- checks and workflows -------------------------------------------------------------
    def create_check(
        self, *, sha: str, name: str, title: str, conclusion: str, summary: str
    ) -> str:
        result = self.http.json(
            "POST",
            f"{self.repo}/check-runs",
            json={
                "name": name,
                "head_sha": sha,
                "status": "completed",
                "conclusion": conclusion,
                "output": {"title": title, "summary": summary},
            },
        )
        return str(result.get("html_url") or "")

    def rerun_workflow(self, run_id: str) -> None:
        self.http.request("POST", f"{self.repo}/actions/runs/{run_id}/rerun")

    # -- runners --------------------------------------------------------------------------
    def runner_registration(
        self, *, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        """A just-in-time config (one job, then the runner is gone: GitHub's ephemeral
        ``--single``) or, with ``jit=False``, a registration token for ``config.sh``.
        Organization runners join the context's runner group (the JIT API takes its id,
        ``config.sh --runnergroup`` its name), else the Default group."""
        group_id, group_name = self.runner_group()
        if jit:
            result = self.http.json(
                "POST",
                f"{self.runners}/generate-jitconfig",
                json={
                    "name": name,
                    "runner_group_id": group_id,
                    "labels": labels or ["cml"],  # GitHub requires at least one
                },
            )
            return RunnerRegistration(
                forge=self.name,
                kind="jit-config",
                url=self.ctx.repo_url,
                token=Secret(result["encoded_jit_config"]),
                runner_id=str(result["runner"]["id"]),
                labels=tuple(labels),
                scope=self.ctx.scope,
            )
        result = self.http.json("POST", f"{self.runners}/registration-token")
        return RunnerRegistration(
            forge=self.name,
            kind="registration-token",
            url=self.ctx.repo_url,
            token=Secret(result["token"]),
            expires_at=str(result.get("expires_at", "")),
            labels=tuple(labels),
            scope=self.ctx.scope,
            extra={"runner_group": group_name},  # config.sh --runnergroup takes the name
        )

    def runner_group(self) -> tuple[int, str]:
        """The (id, name) of the context's runner group, asked of the organization once: a
        typo fails here, before a machine exists (``runner launch`` calls this up front)."""
        if not self.ctx.runner_group:
            return DEFAULT_RUNNER_GROUP
        if self._runner_group is None:
            self._runner_group = self._find_runner_group(self.ctx.runner_group)
        return self._runner_group

    def _find_runner_group(self, wanted: str) -> tuple[int, str]:
        path = f"/orgs/{self.ctx.repo}/actions/runner-groups"
        found = [
            (int(g["id"]), str(g["name"]))
            for g in self.http.paginate(path, {"per_page": 100}, key="runner_groups")
        ]
        by_id = [g for g in found if wanted.isdigit() and g[0] == int(wanted)]
        by_name = [g for g in found if g[1] == wanted] or [
            g for g in found if g[1].casefold() == wanted.casefold()
        ]
        if by_id or by_name:
            return (by_id or by_name)[0]
        known = ", ".join(f"{name} ({gid})" for gid, name in found[:10]) or "none"
        raise CmlinfraError(
            f"no runner group {wanted!r} in GitHub organization {self.ctx.repo}",
            f"pass --runner-group with one of its groups, by name or id: {known}",
        )

    def list_runners(self) -> list[Runner]:
        items = self.http.paginate(self.runners, {"per_page": 100}, key="runners")
        return [
            Runner(
                id=str(r["id"]),
                name=r["name"],
                labels=tuple(label["name"] for label in r.get("labels", [])),
                status=r.get("status", ""),
                busy=bool(r.get("busy")),
            )
            for r in items
        ]

    def remove_runner(self, runner_id: str) -> None:
        self.http.request("DELETE", f"{self.runners}/{runner_id}")


def _pull(p: dict[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(p["number"]),
        url=p.get("html_url", ""),
        head_branch=p.get("head", {}).get("ref", ""),
        base_branch=p.get("base", {}).get("ref", ""),
        head_sha=p.get("head", {}).get("sha", ""),
    )


def _comment(c: dict[str, Any]) -> Comment:
    return Comment(id=str(c["id"]), body=c.get("body") or "", url=c.get("html_url", ""))
