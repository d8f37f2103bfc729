"""GitLab runners: created through the API (GitLab ≥ 15.10's runner-creation workflow), listed
and removed, in a project or a group.

Runners are the one place where a ``--repo`` path like ``group/sub`` is ambiguous: it may be a
project or a subgroup, and only the API can tell. :class:`GitLabRunners` asks once (project
first, 404 → group) and remembers the answer, which also lets a 401/403 on a runner call name
the role that level needs (Maintainer of a project, Owner of a group).
"""

from __future__ import annotations

import logging
from urllib.parse import quote, urlsplit

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import paths
from cmlinfra.forges.base import Runner, RunnerRegistration
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP
from cmlinfra.secrets import Secret

log = logging.getLogger("cmlinfra.forges")

# The role and token scope runner creation needs, by where the runner lives
RUNNER_TOKEN = {
    "project": "a token with the create_runner (or api) scope and the Maintainer role in the "
    "project",
    "group": "a token with the create_runner (or api) scope and the Owner role in the group "
    "(group runners need Owner)",
}


def runner_errors(status: int, message: str, url: str, owner: str) -> CmlinfraError | None:
    """A refused runner call, with the token its ``owner`` ("project" | "group") needs; None
    when the owner is not known yet or the answer is not a 401/403 about runners. Only the
    runner calls ask about a group (``GET /groups/:id``, settling project vs group), so a
    refusal there is a group's: Owner, not the Maintainer a project's runners need."""
    if "/api/v4/groups/" in url:
        owner = "group"
    if status == 403 and owner and ("/runners" in url or "/api/v4/groups/" in url):
        return CmlinfraError(
            f"GitLab refused to manage the runners of the {owner} "
            f"(HTTP 403: {message or 'Forbidden'})",
            f"set REPO_TOKEN (or GITLAB_TOKEN) to {RUNNER_TOKEN[owner]}",
        )
    if status == 401 and owner:
        return CmlinfraError(
            f"the token was rejected by GitLab (HTTP 401: {message or 'Unauthorized'})",
            f"set REPO_TOKEN (or GITLAB_TOKEN) to {RUNNER_TOKEN[owner]}",
        )
    return None


class GitLabRunners:
    """The runners of one context's project or group, over the driver's HTTP session."""

    def __init__(self, http: ForgeHTTP, context: ForgeContext, project: str) -> None:
        self.http, self.ctx, self.project = http, context, project
        self._owner = ""  # "project" | "group" once a runner call has asked the API
        self._owner_id = 0

    @property
    def owner_kind(self) -> str:
        """ "project" | "group" as far as known: a top-level group is one before the API is
        asked; "" while a path may still be either."""
        return self._owner or ("group" if self.ctx.scope == "group" else "")

    def owner(self) -> tuple[str, int]:
        """Where this context's runners live — ("project", id) or ("group", id) — asked of
        the API once: a path like group/sub may be a project or a subgroup (project first,
        404 → group; a one-segment path is always a group)."""
        if self._owner:
            return self._owner, self._owner_id
        path, scope = self.ctx.repo, self.ctx.scope
        if scope in ("repository", "project-or-group"):
            allow = (404,) if scope == "project-or-group" else ()
            found = self.http.request("GET", self.project, allow=allow)
            if found.status_code != 404:
                self._owner, self._owner_id = "project", int(found.json()["id"])
        if not self._owner:
            group = self.http.request("GET", f"/api/v4/groups/{quote(path, safe='')}", allow=(404,))
            if group.status_code == 404:
                raise CmlinfraError(
                    f"no GitLab project or group {path!r} at {self.ctx.web_url}, or the token "
                    "cannot see it",
                    "check --repo (https://host/group/project, or https://host/group for group "
                    "runners)" + root_hint(at_host_root(self.ctx), path),
                )
            self._owner, self._owner_id = "group", int(group.json()["id"])
        log.info("GitLab %s is a %s: %s runners", path, *[self._owner] * 2)
        return self._owner, self._owner_id

    def create(self, forge: str, name: str, labels: list[str]) -> RunnerRegistration:
        """A project or group runner created through the API: its ``glrt-`` authentication
        token goes to ``gitlab-runner register``."""
        owner, owner_id = self.owner()
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
            forge=forge,
            kind="runner-token",
            url=self.ctx.web_url,
            token=Secret(result["token"]),
            runner_id=str(result["id"]),
            expires_at=str(result.get("token_expires_at") or ""),
            labels=tuple(labels),
            scope="group" if owner == "group" else "repository",
        )

    def list_all(self) -> list[Runner]:
        """This project's or group's own runners. A subgroup's listing also holds its ancestor
        groups' runners (GitLab lists "any ancestor groups" too), which a sweep of the
        subgroup must never touch: each one's details say which group owns it."""
        owner, owner_id = self.owner()
        path = f"/api/v4/{owner}s/{owner_id}/runners"
        items = list(self.http.paginate(path, {"type": f"{owner}_type", "per_page": 100}))
        if owner == "group" and "/" in self.ctx.repo:  # a top-level group has no ancestors
            items = [r for r in items if self._owned(r["id"], owner_id)]
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

    def _owned(self, runner_id: int, group_id: int) -> bool:
        """Whether group ``group_id`` owns the runner; an ancestor's runner whose details
        the token may not read (403/404) is not this group's either."""
        path = f"/api/v4/runners/{paths.number(runner_id, 'runner id')}"
        found = self.http.request("GET", path, allow=(403, 404))
        if found.status_code != 200:
            return False
        return any(g.get("id") == group_id for g in found.json().get("groups") or ())

    def remove(self, runner_id: str) -> None:
        self.http.request("DELETE", f"/api/v4/runners/{paths.number(runner_id, 'runner id')}")


def at_host_root(ctx: ForgeContext) -> str:
    """``ctx``'s web URL when its API is at its host's root (not gitlab.com, never under one),
    where a 404 may mean a GitLab under a relative URL that ``--repo`` alone cannot tell."""
    at_root = not urlsplit(ctx.api_url).path.strip("/")
    return ctx.web_url if at_root and urlsplit(ctx.web_url).hostname != "gitlab.com" else ""


def root_hint(base: str, path: str) -> str:
    """The end of a 404's fix for ``path`` (three or more segments) asked of the API at host
    root ``base``: ``https://host/gitlab/group/proj`` outside CI is project gitlab/group/proj
    there (docs/forges.md); "" otherwise."""
    if not base or path.count("/") < 2:
        return ""
    root = f"{base.rstrip('/')}/{path.split('/')[0]}"
    return f"; if GitLab is served under a relative URL, set CI_SERVER_URL to it ({root})"
