"""GitHub (github.com and Enterprise Server) over its REST API.

Assets stay on GitHub (see :mod:`cmlinfra.forges.github_git`): each file is committed,
content-addressed, to an orphan ``cmlinfra-assets`` branch and linked with its ``?raw=true``
URL, so no third-party host ever sees a report image (CML's default uploads to a public one).
``pr create --merge/--squash/--rebase`` sets the PR to auto-merge when its required checks pass
(GraphQL, see :mod:`cmlinfra.forges.github_automerge`) instead of merging untested code.
Runners, a repository's or an organization's, are :mod:`cmlinfra.forges.github_runners`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import requests

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import github_automerge, github_git, github_jobs, github_runners, paths
from cmlinfra.forges.base import (
    Author,
    AutoMerge,
    Comment,
    FileChange,
    LostJob,
    PullRequest,
    Runner,
    RunnerRegistration,
    Target,
)
from cmlinfra.forges.ci_env import github_fork
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP, message_of

COMMENT_LIMIT = 65_536
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


def _errors(response: requests.Response) -> CmlinfraError | None:
    status, message = response.status_code, message_of(response)
    org_error = github_runners.org_runner_errors(status, message, response.request.url or "")
    if org_error is not None:
        return org_error
    if status == 401:
        return CmlinfraError(
            f"the token was rejected by GitHub (HTTP 401: {message or 'Bad credentials'})",
            "pass --token or set REPO_TOKEN: a valid token with contents, pull-requests and checks "
            "write access",
        )
    if status == 403 and "not accessible by integration" in message.lower():
        fork = github_fork(os.environ)
        if fork:  # no permissions: line can help: GitHub caps a fork PR's token at read
            return CmlinfraError(
                f"GitHub refused: {message}: this pull request comes from the fork {fork}, "
                "and GitHub gives a fork's workflow a read-only token",
                "post the report from a separate workflow triggered by `workflow_run` (it runs "
                "in this repository with a write token), passing the report as an artifact",
            )
        permission = _permission_for(response.request.url or "")
        return CmlinfraError(
            f"GitHub refused: {message}",
            f"add `permissions: {permission}` to the workflow job, or set REPO_TOKEN to a "
            "token that has it",
        )
    return None


class GitHub:
    name = "github"
    comment_limit = COMMENT_LIMIT
    rerun_brings_dependents = True

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
        self.runners = github_runners.GitHubRunners(self.http, context, self.repo)

    # -- pull requests and comments -------------------------------------------------------
    def pr_for_commit(self, sha: str) -> PullRequest | None:
        path = f"{self.repo}/commits/{paths.sha(sha)}/pulls"
        pulls = self.http.json("GET", path, params={"per_page": 100})
        open_pulls = [p for p in pulls if p.get("state") == "open"]
        best = [p for p in open_pulls if p["head"]["sha"] == sha] or open_pulls
        return _pull(best[0]) if best else None

    def _comments(self, target: Target) -> str:
        if target.kind == "commit":
            return f"{self.repo}/commits/{paths.sha(target.ref)}/comments"
        # PRs are issues for comments
        return f"{self.repo}/issues/{paths.number(target.ref, target.kind)}/comments"

    def list_comments(self, target: Target) -> list[Comment]:
        items = self.http.paginate(self._comments(target), {"per_page": 100})
        return [_comment(c) for c in items]

    def create_comment(self, target: Target, body: str) -> Comment:
        return _comment(self.http.json("POST", self._comments(target), json={"body": body}))

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        kind = "comments" if target.kind == "commit" else "issues/comments"
        path = f"{self.repo}/{kind}/{paths.number(comment.id, 'comment')}"
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
        author: Author | None = None,
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
                self.http,
                self.repo,
                base=base,
                branch=branch,
                message=message,
                files=files,
                author=author,
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
        self,
        *,
        sha: str,
        name: str,
        title: str,
        conclusion: str,
        summary: str,
        status: str = "completed",
    ) -> str:
        result = self.http.json(
            "POST",
            f"{self.repo}/check-runs",
            json={
                "name": name,
                "head_sha": sha,
                "status": status,
                **({"conclusion": conclusion} if conclusion else {}),
                "output": {"title": title, "summary": summary},
            },
        )
        return str(result.get("html_url") or "")

    def rerun_workflow(self, run_id: str) -> None:
        run = paths.number(run_id, "workflow run id")
        self.http.request("POST", f"{self.repo}/actions/runs/{run}/rerun")

    def lost_jobs(
        self, runner_name: str, runner_id: str, since: float, launched_by: dict[str, str]
    ) -> list[LostJob]:
        return github_jobs.lost_jobs(
            self.http, self.repo, runner_name, runner_id, since, launched_by
        )

    def rerun_job(self, job: LostJob) -> None:
        github_jobs.rerun_job(self.http, self.repo, job)

    # -- runners (the repository's, or an organization's: cmlinfra.forges.github_runners) --
    def runner_registration(
        self, *, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        return self.runners.registration(self.name, name, labels, jit)

    def check_runner_access(self) -> None:
        self.runners.list_all()
        self.runners.group()

    def list_runners(self) -> list[Runner]:
        return self.runners.list_all()

    def remove_runner(self, runner_id: str) -> None:
        self.runners.remove(runner_id)


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
