"""Bitbucket runners: a repository's or a workspace's (``--repo https://bitbucket.org/WORKSPACE``),
registered, listed and removed through ``pipelines-config/runners``.

Bitbucket answers a registration with an OAuth client (id + secret) the runner agent signs in
with, and the agent also needs UUIDs the answer does not carry (the workspace's, and the
repository's for a repository runner): they are looked up *before* the runner is created, so a
failed lookup leaves nothing registered.
"""

from __future__ import annotations

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges import paths
from cmlinfra.forges.base import Runner, RunnerRegistration
from cmlinfra.forges.context import ForgeContext
from cmlinfra.forges.http import ForgeHTTP
from cmlinfra.secrets import Secret


class BitbucketRunners:
    """The runner calls of one repository or workspace."""

    def __init__(self, http: ForgeHTTP, context: ForgeContext, repo_path: str) -> None:
        self.http, self.ctx, self.repo = http, context, repo_path
        owner = f"/workspaces/{context.repo}" if context.scope == "workspace" else repo_path
        self.path = f"{owner}/pipelines-config/runners"

    def register(self, name: str, labels: list[str]) -> RunnerRegistration:
        uuids = self._uuids()
        result = self.http.json(
            "POST", self.path, json={"name": name, "labels": ["self.hosted", "linux", *labels]}
        )
        client = result.get("oauth_client") or {}
        return RunnerRegistration(
            forge="bitbucket",
            kind="oauth-client",
            url=self.ctx.repo_url,
            token=Secret(client.get("secret", "")),
            runner_id=result["uuid"],
            labels=tuple(result.get("labels") or labels),
            scope=self.ctx.scope,
            extra={"client_id": client.get("id", ""), **uuids},  # the keys plan_agent reads
        )

    def _uuids(self) -> dict[str, str]:
        """``account_uuid`` (the workspace's) and, for a repository runner,
        ``repository_uuid``, braced as Bitbucket writes them: one GET either way (a
        repository's answer carries its workspace)."""
        if self.ctx.scope == "workspace":
            workspace = self.http.json("GET", f"/workspaces/{self.ctx.repo}") or {}
            return {"account_uuid": _uuid(workspace.get("uuid"), f"workspace {self.ctx.repo}")}
        repository = self.http.json("GET", self.repo) or {}
        owner = repository.get("workspace") or {}
        return {
            "account_uuid": _uuid(owner.get("uuid"), f"workspace of {self.ctx.repo}"),
            "repository_uuid": _uuid(repository.get("uuid"), f"repository {self.ctx.repo}"),
        }

    def list_all(self) -> list[Runner]:
        return [
            Runner(
                id=r["uuid"],
                name=r.get("name", ""),
                labels=tuple(r.get("labels") or ()),
                status=str((r.get("state") or {}).get("status", "")).lower(),
            )
            for r in self.http.paginate(self.path, key="values")
        ]

    def remove(self, runner_id: str) -> None:
        self.http.request("DELETE", f"{self.path}/{paths.uuid(runner_id, 'runner id')}")


def _uuid(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip("{}"):
        raise CmlinfraError(
            f"Bitbucket did not give the UUID of the {what}, which the runner needs",
            "check that --repo names an existing workspace or repository and that the token "
            "can read it",
        )
    return value if value.startswith("{") else "{" + value + "}"
