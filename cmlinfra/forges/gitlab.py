"""GitLab (gitlab.com and self-managed) over REST API v4.

Merge request and issue comments are notes; commit comments are commit *discussions* (the
plain commit-comments API cannot edit a comment, which updating a report in place needs).
Assets are project uploads, linked under the project's own URL. Runners (project or group,
whichever the path turns out to be) are :mod:`cmlinfra.forges.gitlab_runners`.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import gitlab_jobs, gitlab_merge, gitlab_runners, paths
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
    unsupported,
)
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.gitlab_merge import mr_from
from cmlinfra.forges.http import ForgeHTTP, generic_error, message_of

COMMENT_LIMIT = 1_000_000  # GitLab notes hold up to 1,000,000 characters


def _errors(
    response: requests.Response, runner_owner: str = "", base: str = ""
) -> CmlinfraError | None:
    status, message = response.status_code, message_of(response)
    url = response.request.url or ""
    runner_error = gitlab_runners.runner_errors(status, message, url, runner_owner)
    if runner_error is not None:
        return runner_error
    if status == 404 and base:
        return _not_below_root(response, base)
    if status == 401:
        return CmlinfraError(
            f"the token was rejected by GitLab (HTTP 401: {message or 'Unauthorized'})",
            "pass --token or set REPO_TOKEN (or GITLAB_TOKEN): a project or personal access "
            "token with the api scope",
        )
    if status == 403:
        return CmlinfraError(
            f"GitLab refused (HTTP 403: {message or 'Forbidden'})",
            "give the token the api scope and at least the Developer role (Maintainer to "
            "manage runners); CI_JOB_TOKEN cannot write comments",
        )
    return None


def _not_below_root(response: requests.Response, base: str) -> CmlinfraError | None:
    """A project not found through an API at its host's root (``base``), by a path of three or
    more segments: perhaps ``--repo https://host/gitlab/group/proj`` outside CI, on a GitLab
    served under a relative URL, which a URL alone cannot tell (forges.md); the fix says how."""
    path = urlsplit(response.request.url or "").path
    project = unquote(path.removeprefix("/api/v4/projects/").split("/")[0])
    if not path.startswith("/api/v4/projects/") or not gitlab_runners.root_hint(base, project):
        return None
    error = generic_error("GitLab", str(response.request.method), path, response)
    return CmlinfraError(error.problem, error.fix + gitlab_runners.root_hint(base, project))


class GitLab:
    name = "gitlab"
    comment_limit = COMMENT_LIMIT
    rerun_brings_dependents = False

    def __init__(self, context: ForgeContext) -> None:
        self.ctx = context
        token = context.token
        header = "JOB-TOKEN" if context.token_var == "CI_JOB_TOKEN" else "PRIVATE-TOKEN"
        self.http = ForgeHTTP(
            context.api_url,
            lambda: {header: token.reveal()},
            forge="GitLab",
            errors=lambda response: _errors(response, self.runners.owner_kind, self._root),
        )
        self.project = f"/api/v4/projects/{quote(context.repo, safe='')}"
        # the API at its host's root: a 404 may mean a relative URL root it does not know
        self._root = gitlab_runners.at_host_root(context)
        self.runners = gitlab_runners.GitLabRunners(self.http, context, self.project)

    def pr_for_commit(self, sha: str) -> PullRequest | None:
        path = f"{self.project}/repository/commits/{paths.sha(sha)}/merge_requests"
        mrs = self.http.json("GET", path)
        opened = [m for m in mrs if m.get("state") == "opened"]
        best = [m for m in opened if m.get("sha") == sha] or opened
        return mr_from(best[0]) if best else None

    # -- comments -------------------------------------------------------------------------
    def _notes(self, target: Target) -> str:
        kind = "merge_requests" if target.kind == "pr" else "issues"
        return f"{self.project}/{kind}/{paths.number(target.ref, target.kind)}/notes"

    def _discussions(self, sha: str) -> str:
        return f"{self.project}/repository/commits/{paths.sha(sha)}/discussions"

    def _url(self, target: Target, note_id: object) -> str:
        """The note's web page: the API answers no URL for notes, so it is built the way
        GitLab links them (``#note_ID`` anchors on the MR, issue or commit page)."""
        page = {"pr": "merge_requests", "issue": "issues", "commit": "commit"}[target.kind]
        return f"{self.ctx.repo_url}/-/{page}/{target.ref}#note_{note_id}"

    def _comment(self, target: Target, note: dict[str, Any], thread: str = "") -> Comment:
        body = note.get("body") or ""
        return Comment(str(note["id"]), body, self._url(target, note["id"]), thread)

    def list_comments(self, target: Target) -> list[Comment]:
        if target.kind == "commit":
            found = []
            for d in self.http.paginate(self._discussions(target.ref), {"per_page": 100}):
                if d.get("notes"):
                    found.append(self._comment(target, d["notes"][0], d["id"]))
            return found
        params = {"per_page": 100, "sort": "asc", "order_by": "created_at"}
        notes = self.http.paginate(self._notes(target), params)
        return [self._comment(target, n) for n in notes if not n.get("system")]

    def create_comment(self, target: Target, body: str) -> Comment:
        if target.kind == "commit":
            d = self.http.json("POST", self._discussions(target.ref), json={"body": body})
            return self._comment(target, d["notes"][0], d["id"])
        return self._comment(
            target, self.http.json("POST", self._notes(target), json={"body": body})
        )

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        if target.kind == "commit":
            thread, note = paths.discussion(comment.thread), paths.number(comment.id, "note")
            path = f"{self._discussions(target.ref)}/{thread}/notes/{note}"
            note = self.http.json("PUT", path, json={"body": body})
            return self._comment(target, note, comment.thread)
        path = f"{self._notes(target)}/{paths.number(comment.id, 'note')}"
        return self._comment(target, self.http.json("PUT", path, json={"body": body}))

    # -- assets ---------------------------------------------------------------------------
    def upload_asset(self, path: Path, mime: str) -> str:
        with path.open("rb") as handle:
            result = self.http.json(
                "POST", f"{self.project}/uploads", files={"file": (path.name, handle, mime)}
            )
        return f"{self.ctx.repo_url}{result['url']}"

    # -- merge requests from files --------------------------------------------------------
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
        if auto_merge == "rebase":
            raise CmlinfraError(
                "--rebase is not supported on GitLab: its merge API merges or squashes",
                "use --merge or --squash",
            )
        existing = self.http.json(
            "GET",
            f"{self.project}/merge_requests",
            params={"source_branch": branch, "state": "opened"},
        )
        if existing:  # reused: files not recommitted; set to merge if asked and not yet set
            found = existing[0]
            if auto_merge and found.get("merge_when_pipeline_succeeds"):
                note, method = "already set", "squash" if found.get("squash") else "merge"
                return mr_from(found, "auto-merge-enabled", method, note=note, reused=True)
            mr = dataclasses.replace(mr_from(found), reused=True)
            return gitlab_merge.merge(self.http, self.project, mr, auto_merge) if auto_merge else mr
        actions: list[dict[str, object]] = []
        for change in files:
            if change.content is None:  # the description requires every field; GitLab ignores them
                actions.append(
                    {
                        "action": "delete",
                        "file_path": change.path,
                        "previous_path": change.path,
                        "content": "",
                        "execute_filemode": False,
                    }
                )
                continue
            probe = self.http.request(
                "HEAD",
                f"{self.project}/repository/files/{paths.segment(change.path, 'file')}",
                params={"ref": base},
                allow=(404,),
            )
            actions.append(
                {
                    "action": "update" if probe.status_code == 200 else "create",
                    "file_path": change.path,
                    "previous_path": change.path,
                    "content": base64.b64encode(change.content).decode(),
                    "encoding": "base64",
                    "execute_filemode": False,
                }
            )
        self.http.json(
            "POST",
            f"{self.project}/repository/commits",
            json={
                "branch": branch,
                "start_branch": base,
                "commit_message": message,
                "actions": actions,
                "force": True,  # a rerun replaces the branch instead of failing on it
                **({"author_name": author[0], "author_email": author[1]} if author else {}),
            },
        )
        mr = mr_from(
            self.http.json(
                "POST",
                f"{self.project}/merge_requests",
                json={
                    "source_branch": branch,
                    "target_branch": base,
                    "title": title,
                    "description": body,
                },
            )
        )
        return gitlab_merge.merge(self.http, self.project, mr, auto_merge) if auto_merge else mr

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
        raise unsupported(
            "GitLab",
            "check create",
            "GitLab has no check runs: post the report with comment create",
        )

    def rerun_workflow(self, run_id: str) -> None:
        pipeline = paths.number(run_id, "pipeline id")
        self.http.request("POST", f"{self.project}/pipelines/{pipeline}/retry")

    def lost_jobs(
        self, runner_name: str, runner_id: str, since: float, launched_by: dict[str, str]
    ) -> list[LostJob]:
        return gitlab_jobs.lost_jobs(
            self.http, self.project, runner_name, runner_id, since, launched_by
        )

    def rerun_job(self, job: LostJob) -> None:
        gitlab_jobs.retry_job(self.http, self.project, job)

    # -- runners (a project's or a group's: cmlinfra.forges.gitlab_runners) ---------------
    def runner_registration(
        self, *, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        """A project or group runner created through the API (GitLab ≥ 15.10's
        runner-creation workflow): its ``glrt-`` authentication token goes to
        ``gitlab-runner register``."""
        return self.runners.create(self.name, name, labels)

    def check_runner_access(self) -> None:
        self.list_runners()  # a listing needs the same owner and permission as a registration

    def list_runners(self) -> list[Runner]:
        return self.runners.list_all()

    def remove_runner(self, runner_id: str) -> None:
        self.runners.remove(runner_id)
