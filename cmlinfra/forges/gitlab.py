"""GitLab (gitlab.com and self-managed) over REST API v4.

Merge request and issue comments are notes; commit comments are commit *discussions* (the
plain commit-comments API cannot edit a comment, which updating a report in place needs).
Assets are project uploads, linked under the project's own URL.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges.base import (
    AutoMerge,
    Comment,
    FileChange,
    PullRequest,
    Runner,
    RunnerRegistration,
    Target,
    unsupported,
)
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP, message_of
from cmlinfra.secrets import Secret

COMMENT_LIMIT = 1_000_000  # GitLab notes hold up to 1,000,000 characters
log = logging.getLogger("cmlinfra.forges")

# The role and token scope runner creation needs, by where the runner lives
RUNNER_TOKEN = {
    "project": "a token with the create_runner (or api) scope and the Maintainer role in the "
    "project",
    "group": "a token with the create_runner (or api) scope and the Owner role in the group "
    "(group runners need Owner)",
}


def _errors(response: requests.Response, runner_owner: str = "") -> CmlinfraError | None:
    status, message = response.status_code, message_of(response)
    if status == 403 and runner_owner and "/runners" in (response.request.url or ""):
        return CmlinfraError(
            f"GitLab refused to manage the runners of the {runner_owner} "
            f"(HTTP 403: {message or 'Forbidden'})",
            f"set REPO_TOKEN (or GITLAB_TOKEN) to {RUNNER_TOKEN[runner_owner]}",
        )
    if status == 401:
        return CmlinfraError(
            f"the token was rejected by GitLab (HTTP 401: {message or 'Unauthorized'})",
            f"set REPO_TOKEN (or GITLAB_TOKEN) to {RUNNER_TOKEN[runner_owner]}"
            if runner_owner
            else "set REPO_TOKEN (or GITLAB_TOKEN) to a project or personal access token with "
            "the api scope",
        )
    if status == 403:
        return CmlinfraError(
            f"GitLab refused (HTTP 403: {message or 'Forbidden'})",
            "give the token the api scope and at least the Developer role (Maintainer to "
            "manage runners); CI_JOB_TOKEN cannot write comments",
        )
    return None


class GitLab:
    name = "gitlab"
    comment_limit = COMMENT_LIMIT

    def __init__(self, context: ForgeContext) -> None:
        self.ctx = context
        token = context.token
        header = "JOB-TOKEN" if context.token_var == "CI_JOB_TOKEN" else "PRIVATE-TOKEN"
        self.http = ForgeHTTP(
            context.api_url,
            lambda: {header: token.reveal()},
            forge="GitLab",
            # a top-level group is known to be one before the API is asked
            errors=lambda response: _errors(
                response, self._runner_owner or ("group" if context.scope == "group" else "")
            ),
        )
        self.project = f"/api/v4/projects/{quote(context.repo, safe='')}"
        self._runner_owner = ""  # "project" | "group" once runner calls have asked the API
        self._runner_owner_id = 0

    def pr_for_commit(self, sha: str) -> PullRequest | None:
        mrs = self.http.json("GET", f"{self.project}/repository/commits/{sha}/merge_requests")
        opened = [m for m in mrs if m.get("state") == "opened"]
        best = [m for m in opened if m.get("sha") == sha] or opened
        return _mr(best[0]) if best else None

    # -- comments -------------------------------------------------------------------------
    def _notes(self, target: Target) -> str:
        kind = "merge_requests" if target.kind == "pr" else "issues"
        return f"{self.project}/{kind}/{target.ref}/notes"

    def _discussions(self, sha: str) -> str:
        return f"{self.project}/repository/commits/{sha}/discussions"

    def list_comments(self, target: Target) -> list[Comment]:
        if target.kind == "commit":
            found = []
            for d in self.http.paginate(self._discussions(target.ref), {"per_page": 100}):
                if d.get("notes"):
                    note = d["notes"][0]
                    found.append(Comment(str(note["id"]), note.get("body", ""), thread=d["id"]))
            return found
        params = {"per_page": 100, "sort": "asc", "order_by": "created_at"}
        notes = self.http.paginate(self._notes(target), params)
        return [_note(n) for n in notes if not n.get("system")]

    def create_comment(self, target: Target, body: str) -> Comment:
        if target.kind == "commit":
            d = self.http.json("POST", self._discussions(target.ref), json={"body": body})
            note = d["notes"][0]
            return Comment(str(note["id"]), note.get("body", ""), thread=d["id"])
        return _note(self.http.json("POST", self._notes(target), json={"body": body}))

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        if target.kind == "commit":
            path = f"{self._discussions(target.ref)}/{comment.thread}/notes/{comment.id}"
            note = self.http.json("PUT", path, json={"body": body})
            return Comment(str(note["id"]), note.get("body", ""), thread=comment.thread)
        path = f"{self._notes(target)}/{comment.id}"
        return _note(self.http.json("PUT", path, json={"body": body}))

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
        if existing:
            return _mr(existing[0])
        actions = []
        for change in files:
            probe = self.http.request(
                "HEAD",
                f"{self.project}/repository/files/{quote(change.path, safe='')}",
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
            },
        )
        mr = _mr(
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
        if auto_merge:
            merged = self.http.json(
                "PUT",
                f"{self.project}/merge_requests/{mr.number}/merge",
                json={"auto_merge": True, "squash": auto_merge == "squash"},
            )
            # merges when the pipeline succeeds, or at once when there is none to wait for
            done = merged.get("state") == "merged"
            mr = _mr(merged, "merged" if done else "auto-merge-enabled", auto_merge)
        return mr

    def create_check(
        self, *, sha: str, name: str, title: str, conclusion: str, summary: str
    ) -> str:
        raise unsupported(
            "GitLab",
            "check create",
            "GitLab has no check runs: post the report with comment create",
        )

    def rerun_workflow(self, run_id: str) -> None:
        self.http.request("POST", f"{self.project}/pipelines/{run_id}/retry")

    # -- runners --------------------------------------------------------------------------
    def _owner(self) -> tuple[str, int]:
        """Where this context's runners live — ("project", id) or ("group", id) — asked of
        the API once: a path like group/sub may be a project or a subgroup (project first,
        404 → group; a one-segment path is always a group)."""
        if self._runner_owner:
            return self._runner_owner, self._runner_owner_id
        path, scope = self.ctx.repo, self.ctx.scope
        if scope in ("repository", "project-or-group"):
            allow = (404,) if scope == "project-or-group" else ()
            found = self.http.request("GET", self.project, allow=allow)
            if found.status_code != 404:
                self._runner_owner, self._runner_owner_id = "project", int(found.json()["id"])
        if not self._runner_owner:
            group = self.http.request("GET", f"/api/v4/groups/{quote(path, safe='')}", allow=(404,))
            if group.status_code == 404:
                raise CmlinfraError(
                    f"no GitLab project or group {path!r} at {self.ctx.web_url}, or the token "
                    "cannot see it",
                    "check --repo (https://host/group/project, or https://host/group for group "
                    "runners)",
                )
            self._runner_owner, self._runner_owner_id = "group", int(group.json()["id"])
        log.info("GitLab %s is a %s: %s runners", path, *[self._runner_owner] * 2)
        return self._runner_owner, self._runner_owner_id

    def runner_registration(
        self, *, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        """A project or group runner created through the API (GitLab ≥ 15.10's
        runner-creation workflow): its ``glrt-`` authentication token goes to
        ``gitlab-runner register``."""
        owner, owner_id = self._owner()
        result = self.http.json(
            "POST",
            "/api/v4/user/runners",
            json={
                "runner_type": f"{owner}_type",
                # the description lists both as required (nullable): one is set
                "group_id": owner_id if owner == "group" else None,
                "project_id": owner_id if owner == "project" else None,
                "description": name,
                "tag_list": labels,
                "run_untagged": not labels,
            },
        )
        return RunnerRegistration(
            forge=self.name,
            kind="runner-token",
            url=self.ctx.web_url,
            token=Secret(result["token"]),
            runner_id=str(result["id"]),
            expires_at=str(result.get("token_expires_at") or ""),
            labels=tuple(labels),
            scope="group" if owner == "group" else "repository",
        )

    def list_runners(self) -> list[Runner]:
        owner, owner_id = self._owner()
        path = f"/api/v4/{owner}s/{owner_id}/runners"
        items = self.http.paginate(path, {"type": f"{owner}_type", "per_page": 100})
        return [
            Runner(
                id=str(r["id"]),
                name=r.get("description") or "",
                labels=tuple(r.get("tag_list") or ()),
                status=r.get("status", ""),
                busy=r.get("job_execution_status") == "active",
            )
            for r in items
        ]

    def remove_runner(self, runner_id: str) -> None:
        self.http.request("DELETE", f"/api/v4/runners/{runner_id}")


def _mr(m: dict[str, Any], merge: str = "", merge_method: str = "") -> PullRequest:
    return PullRequest(
        number=int(m["iid"]),
        url=m.get("web_url", ""),
        head_branch=m.get("source_branch", ""),
        base_branch=m.get("target_branch", ""),
        head_sha=m.get("sha") or "",
        merge=merge,
        merge_method=merge_method,
    )


def _note(n: dict[str, Any]) -> Comment:
    return Comment(id=str(n["id"]), body=n.get("body") or "")
