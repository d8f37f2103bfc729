"""GitHub Actions runners: a repository's own, or an organization's pool (``--repo .../ORG``).

Organization runners need an organization-admin token, and join a runner group: the JIT API
takes the group's id, ``config.sh --runnergroup`` its name, so a ``--runner-group`` given by
either is looked up once, before a machine exists.
"""

from __future__ import annotations

import re

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import paths
from cmlinfra.forges.base import Runner, RunnerRegistration
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP
from cmlinfra.secrets import Secret

ORG_RUNNER_TOKEN = (
    "a classic token with the admin:org scope, or a fine-grained token or GitHub App with the "
    'organization permission "Self-hosted runners: read and write" (GITHUB_TOKEN cannot)'
)
DEFAULT_RUNNER_GROUP = (1, "Default")  # every organization's, and every repository's runners


def org_runner_errors(status: int, message: str, url: str) -> CmlinfraError | None:
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


class GitHubRunners:
    """The runner endpoints of the context's owner (repository or organization)."""

    def __init__(self, http: ForgeHTTP, context: ForgeContext, repo_path: str) -> None:
        self.http, self.ctx = http, context
        owner = f"/orgs/{context.repo}" if context.scope == "organization" else repo_path
        self.path = f"{owner}/actions/runners"
        self._group: tuple[int, str] | None = None  # (id, name), asked once

    def registration(
        self, forge: str, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        """A just-in-time config (one job, then the runner is gone: GitHub's ephemeral
        ``--single``) or, with ``jit=False``, a registration token for ``config.sh``.
        Organization runners join the context's runner group (the JIT API takes its id,
        ``config.sh --runnergroup`` its name), else the Default group."""
        group_id, group_name = self.group()
        if jit:
            result = self.http.json(
                "POST",
                f"{self.path}/generate-jitconfig",
                json={
                    "name": name,
                    "runner_group_id": group_id,
                    "labels": labels or ["cml"],  # GitHub requires at least one
                },
            )
            return RunnerRegistration(
                forge=forge,
                kind="jit-config",
                url=self.ctx.repo_url,
                token=Secret(result["encoded_jit_config"]),
                runner_id=str(result["runner"]["id"]),
                labels=tuple(labels),
                scope=self.ctx.scope,
            )
        result = self.http.json("POST", f"{self.path}/registration-token")
        return RunnerRegistration(
            forge=forge,
            kind="registration-token",
            url=self.ctx.repo_url,
            token=Secret(result["token"]),
            expires_at=str(result.get("expires_at", "")),
            labels=tuple(labels),
            scope=self.ctx.scope,
            extra={"runner_group": group_name},  # config.sh --runnergroup takes the name
        )

    def group(self) -> tuple[int, str]:
        """The (id, name) of the context's runner group, asked of the organization once: a
        typo fails here, before a machine exists (``runner launch`` calls this up front)."""
        if not self.ctx.runner_group:
            return DEFAULT_RUNNER_GROUP
        if self._group is None:
            self._group = self._find_group(self.ctx.runner_group)
        return self._group

    def _find_group(self, wanted: str) -> tuple[int, str]:
        path = f"/orgs/{self.ctx.repo}/actions/runner-groups"
        found = [
            (int(g["id"]), str(g["name"]))
            for g in self.http.paginate(path, {"per_page": 100}, key="runner_groups")
        ]
        by_id = [g for g in found if wanted.isascii() and wanted.isdigit() and g[0] == int(wanted)]
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

    def list_all(self) -> list[Runner]:
        items = self.http.paginate(self.path, {"per_page": 100}, key="runners")
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

    def remove(self, runner_id: str) -> None:
        self.http.request("DELETE", f"{self.path}/{paths.number(runner_id, 'runner id')}")
