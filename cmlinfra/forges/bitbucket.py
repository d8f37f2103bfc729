"""Bitbucket Cloud over REST API 2.0.

Bitbucket has no check runs: that raises a :class:`~cmlinfra.errors.CmlinfraError` saying
so. A pipeline is re-run as a new one with the same target (bitbucket_pipelines.py). Assets go
to the repository's Downloads, content-addressed so two reports never overwrite each other's
images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import requests

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import bitbucket_pipelines, paths
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
from cmlinfra.forges.bitbucket_runners import BitbucketRunners
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP, merge_refused, message_of

COMMENT_LIMIT = 32_768  # conservative: Bitbucket documents no limit, large comments fail
_COMMENT_TYPE = {"pr": "pullrequest_comment", "commit": "commit_comment", "issue": "issue_comment"}
_STRATEGY = {"merge": "merge_commit", "squash": "squash", "rebase": "fast_forward"}


WORKSPACE_TOKEN = (
    "pass --token or set REPO_TOKEN: a workspace access token, or user:app-password of a "
    "workspace admin, with the runner:write scope (a repository access token cannot)"
)


def _errors(response: requests.Response, token_option: str = "--token") -> CmlinfraError | None:
    """The fix for Bitbucket's refusals; a rejected repository token's offers the command's
    own ``token_option`` ("": checkpoint restore, which takes none, names the variables)."""
    status, message = response.status_code, message_of(response)
    workspace = "/workspaces/" in (response.request.url or "")
    if status == 401 and workspace:
        return CmlinfraError(
            f"the token was rejected by Bitbucket (HTTP 401: {message or 'Unauthorized'})",
            WORKSPACE_TOKEN,
        )
    if status == 401:
        give = f"pass {token_option} or set" if token_option else "set"
        # the one command without the option (checkpoint restore) only reads pipelines
        scopes = (
            "pull request and repository write" if token_option else "repository and pipeline read"
        )
        return CmlinfraError(
            f"the token was rejected by Bitbucket (HTTP 401: {message or 'Unauthorized'})",
            f"{give} REPO_TOKEN (or BITBUCKET_TOKEN): a repository access token, "
            f"or user:app-password, with {scopes} scopes",
        )
    if status == 404 and workspace:
        found = re.search(r"/workspaces/([^/?]+)", response.request.url or "")
        name = unquote(found.group(1)) if found else ""
        return CmlinfraError(
            f"no Bitbucket workspace {name!r}, or the token cannot see it (HTTP 404)",
            "check --repo (https://bitbucket.org/WORKSPACE for workspace runners); "
            + WORKSPACE_TOKEN,
        )
    if status == 403 and workspace:
        return CmlinfraError(
            f"Bitbucket refused to manage the workspace's runners (HTTP 403: "
            f"{message or 'Forbidden'})",
            f"workspace runners need a workspace admin: {WORKSPACE_TOKEN}",
        )
    if status == 403:
        return CmlinfraError(
            f"Bitbucket refused (HTTP 403: {message or 'Forbidden'})",
            "give the token the pullrequest:write, repository:write, (for runners) "
            "runner:write and (for workflow rerun, gc's re-runs) pipeline:write scopes",
        )
    return None


class Bitbucket:
    name = "bitbucket"
    comment_limit = COMMENT_LIMIT
    rerun_brings_dependents = True  # a new pipeline runs every step again

    def __init__(self, context: ForgeContext) -> None:
        self.ctx = context
        token = context.token

        def auth() -> dict[str, str]:
            value = token.reveal()
            if ":" in value:  # user:app-password → HTTP basic
                import base64

                return {"Authorization": "Basic " + base64.b64encode(value.encode()).decode()}
            return {"Authorization": f"Bearer {value}"}

        self.http = ForgeHTTP(
            context.api_url, auth, forge="Bitbucket",
            errors=lambda response: _errors(response, context.token_option),
        )  # fmt: skip
        self.repo = f"/repositories/{context.repo}"
        self.runners = BitbucketRunners(self.http, context, self.repo)

    def pr_for_commit(self, sha: str) -> PullRequest | None:
        path = f"{self.repo}/commit/{paths.sha(sha)}/pullrequests"
        pulls = self.http.paginate(path, key="values")
        opened = [p for p in pulls if p.get("state") == "OPEN"]
        return _pull(opened[0]) if opened else None

    def _comments(self, target: Target) -> str:
        kind = {"pr": "pullrequests", "commit": "commit", "issue": "issues"}[target.kind]
        ref = paths.sha(target.ref) if target.kind == "commit" else paths.number(target.ref, kind)
        return f"{self.repo}/{kind}/{ref}/comments"

    def list_comments(self, target: Target) -> list[Comment]:
        items = self.http.paginate(self._comments(target), {"pagelen": 100}, key="values")
        return [_comment(c) for c in items if not c.get("deleted")]

    def create_comment(self, target: Target, body: str) -> Comment:
        payload = {"type": _COMMENT_TYPE[target.kind], "content": {"raw": body}}
        return _comment(self.http.json("POST", self._comments(target), json=payload))

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment:
        path = f"{self._comments(target)}/{paths.number(comment.id, 'comment')}"
        payload = {"type": _COMMENT_TYPE[target.kind], "content": {"raw": body}}
        return _comment(self.http.json("PUT", path, json=payload))

    def upload_asset(self, path: Path, mime: str) -> str:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        name = f"{digest}-{re.sub(r'[^A-Za-z0-9._-]', '_', path.name)}"
        self.http.request("POST", f"{self.repo}/downloads", files={"files": (name, data, mime)})
        return f"{self.ctx.repo_url}/downloads/{name}"

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
        existing = self.http.json(
            "GET",
            f"{self.repo}/pullrequests",
            params={"q": f'source.branch.name="{branch}" AND state="OPEN"'},
        )
        if existing.get("values"):  # reused: files not recommitted; merged if asked
            pull = dataclasses.replace(_pull(existing["values"][0]), reused=True)
            return self._merge(pull, auto_merge) if auto_merge else pull
        # a new branch starts from the main branch (the src API takes parent SHAs, not names)
        form: list[tuple[str, tuple[str | None, str | bytes]]] = [
            ("message", (None, message)),
            ("branch", (None, branch)),
        ]
        form += [
            (f"/{c.path.lstrip('/')}", (c.path, c.content)) for c in files if c.content is not None
        ]
        form += [("files", (None, c.path)) for c in files if c.content is None]  # deletions
        if author:
            form.append(("author", (None, f"{author[0]} <{author[1]}>")))
        self.http.request("POST", f"{self.repo}/src", files=form)
        pull = _pull(
            self.http.json(
                "POST",
                f"{self.repo}/pullrequests",
                json={
                    "type": "pullrequest",  # the description's base `object` requires it
                    "title": title,
                    "description": body,
                    "source": {"branch": {"name": branch}},
                    "destination": {"branch": {"name": base}},
                },
            )
        )
        return self._merge(pull, auto_merge) if auto_merge else pull

    def _merge(self, pull: PullRequest, method: AutoMerge) -> PullRequest:
        """Right away: Bitbucket Cloud's API has no merge-when-checks-pass."""
        response = self.http.request(
            "POST",
            f"{self.repo}/pullrequests/{paths.number(pull.number, 'pull request')}/merge",
            json={"merge_strategy": _STRATEGY[method], "type": "pullrequest_merge_parameters"},
            allow=(400,),
        )
        if response.status_code == 400:  # merge checks, a conflict, a disallowed strategy
            raise merge_refused(
                "Bitbucket",
                response,
                pull=f"PR #{pull.number}",
                url=pull.url,
                fix="do what Bitbucket names (a merge check, a conflict, a merge strategy the "
                f"repository does not allow) and merge the PR by hand, or drop --{method}",
            )
        return dataclasses.replace(pull, merge="merged", merge_method=method)

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
            "Bitbucket", "check create", "post the report with comment create instead"
        )

    def rerun_workflow(self, run_id: str) -> dict[str, str]:
        """A new pipeline with the old one's target: Bitbucket re-runs nothing in place."""
        return bitbucket_pipelines.rerun(self.http, self.repo, self.ctx.repo_url, run_id)

    def lost_jobs(
        self, runner_name: str, runner_id: str, since: float, launched_by: dict[str, str]
    ) -> list[LostJob]:
        """The lost steps of the pipeline that launched the runner (a step does not say which
        runner ran it): cmlinfra.forges.bitbucket_pipelines."""
        return bitbucket_pipelines.lost_steps(
            self.http, self.repo, self.ctx.repo_url, since, launched_by
        )

    def rerun_job(self, job: LostJob) -> str:
        """Starts the step's whole pipeline again (gc asks once per pipeline)."""
        started = bitbucket_pipelines.rerun(
            self.http, self.repo, self.ctx.repo_url, job.run_key or job.run_id
        )
        note = f", {started['note']}" if started["note"] else ""
        return f"as pipeline {started['pipeline']} (Bitbucket re-runs whole pipelines){note}"

    # -- runners (a repository's or a workspace's: cmlinfra.forges.bitbucket_runners) -------
    def runner_registration(
        self, *, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        return self.runners.register(name, labels)

    def check_runner_access(self) -> None:
        self.list_runners()  # a listing needs the same owner and permission as a registration

    def list_runners(self) -> list[Runner]:
        return self.runners.list_all()

    def remove_runner(self, runner_id: str) -> None:
        self.runners.remove(runner_id)


def _pull(p: dict[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(p["id"]),
        url=p.get("links", {}).get("html", {}).get("href", ""),
        head_branch=p.get("source", {}).get("branch", {}).get("name", ""),
        base_branch=p.get("destination", {}).get("branch", {}).get("name", ""),
        head_sha=p.get("source", {}).get("commit", {}).get("hash", ""),
    )


def _comment(c: dict[str, Any]) -> Comment:
    return Comment(
        id=str(c["id"]),
        body=(c.get("content") or {}).get("raw", ""),
        url=c.get("links", {}).get("html", {}).get("href", ""),
    )
