"""Which forge, repository, token, commit and PR this run is about — inferred from the CI
environment the way CML does it (what each CI's variables say: :mod:`cmlinfra.forges.ci_env`),
or given with ``--driver``/``--repo``/``--token``, which win.

Here the pieces become one :class:`ForgeContext`: the driver (from the flag, the ``--repo``
URL's host, or the CI), the scope of the repository path (a repository, or an owner whose
runners every repository shares), and the token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlparse

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.forges import ci_env
from cmlinfra.secrets import Secret

DRIVERS = ("github", "gitlab", "bitbucket")

TOKEN_VARS = {
    "github": ("REPO_TOKEN", "GITHUB_TOKEN"),
    "gitlab": ("REPO_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN"),
    "bitbucket": ("REPO_TOKEN", "BITBUCKET_TOKEN"),
}

TOKEN_NEEDS = {
    "github": "a token with contents, pull-requests and checks write access (in Actions: "
    "env: REPO_TOKEN: ${{ secrets.GITHUB_TOKEN }} with a permissions: block)",
    "gitlab": "a project or personal access token with the api scope",
    "bitbucket": "a repository access token, or user:app-password",
}


# Where runners are registered. "repository" is the default; an owner-level URL
# (https://github.com/ORG, https://gitlab.com/GROUP, https://bitbucket.org/WORKSPACE) gives the
# forge's shared pool. A GitLab path of two or more segments may be a project or a (sub)group:
# only the API can tell, so it stays "project-or-group" until the driver asks.
Scope = Literal["repository", "organization", "group", "workspace", "project-or-group"]
OWNER_SCOPE: dict[str, Scope] = {
    "github": "organization",
    "gitlab": "group",
    "bitbucket": "workspace",
}
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class ForgeContext:
    driver: str  # github | gitlab | bitbucket
    # owner/name (GitHub), group/…/project (GitLab), workspace/slug (Bitbucket) — or, for
    # runners, the organization / group path / workspace alone (see ``scope``)
    repo: str
    web_url: str  # https://github.com, https://gitlab.example.com, https://bitbucket.org
    api_url: str  # https://api.github.com, https://host/api/v3, https://gitlab.com, …/2.0
    token: Secret
    token_var: str = ""  # the variable the token came from (CI_JOB_TOKEN needs its own header)
    commit: str = ""
    pr: int | None = None
    branch: str = ""
    run_id: str = ""
    workflow: str = ""
    scope: Scope = "repository"
    runner_group: int = 1  # GitHub organization runners: the runner group's id (1: Default)

    @property
    def repo_url(self) -> str:
        """The web URL of the repository (or organization / group / workspace)."""
        return f"{self.web_url}/{self.repo}"

    @property
    def owner_level(self) -> bool:
        """Runners here serve every repository of an organization / group / workspace."""
        return self.scope in ("organization", "group", "workspace")

    def in_runner_group(self, group: int) -> ForgeContext:
        """This context with GitHub runner group ``group``: only an organization has groups
        to choose from (a repository's runners are always in the Default group, 1)."""
        if group == self.runner_group:
            return self
        if (self.driver, self.scope) != ("github", "organization") or group < 1:
            raise UsageError(
                f"--runner-group {group} needs a GitHub organization (this is a {self.driver} "
                f"{self.scope}) and a group id of 1 or more",
                "pass --repo https://github.com/ORG, or leave --runner-group out",
            )
        return replace(self, runner_group=group)

    def retarget(self, url: str) -> ForgeContext | None:
        """The same forge and token pointed at another URL on the same host (a runner record
        from an organization-level launch, destroyed from a repository's CI job); None when
        ``url`` is on another forge, whose token this is not."""
        prefix = self.web_url.rstrip("/") + "/"
        if not url.startswith(prefix):
            return None
        path = url[len(prefix) :].strip("/").removesuffix(".git")
        return replace(self, repo=path, scope=parse_scope(self.driver, path, url, given=True))


def parse_scope(driver: str, path: str, shown: str, *, given: bool) -> Scope:
    """The scope of a repository path: one segment is an owner (organization, group,
    workspace), two a repository (GitLab: two or more, a project or a subgroup). ``given``:
    the path came from ``--repo`` (the CI environment always names a repository)."""
    segments = path.split("/") if path else []
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise UsageError(
            f"--repo {shown!r} is not a {driver} repository or {OWNER_SCOPE[driver]} URL",
            f"pass --repo https://host/owner/name, or https://host/{OWNER_SCOPE[driver].upper()} "
            "for runners shared by all its repositories",
        )
    if len(segments) == 1:
        return OWNER_SCOPE[driver]
    if driver == "gitlab":
        return "project-or-group" if given else "repository"
    if len(segments) != 2:
        raise UsageError(
            f"--repo {shown!r} has {len(segments)} path segments: a {driver} repository has two "
            f"(owner/name) and an {OWNER_SCOPE[driver]} one",
            "pass the repository's URL itself, not a page inside it",
        )
    return "repository"


def _driver_for_host(host: str) -> str | None:
    host = host.lower()
    if host == "github.com" or host.startswith("github."):
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if "bitbucket" in host:
        return "bitbucket"
    return None


def detect(
    env: Mapping[str, str] | None = None,
    *,
    driver: str | None = None,
    repo: str | None = None,
    token: str | None = None,
    owner_ok: bool = False,
) -> ForgeContext:
    """The forge context of this run; flags win over the environment. ``owner_ok``: the
    caller manages runners, which may live at organization / group / workspace level; every
    other command needs a repository and says so."""
    env = os.environ if env is None else env
    web_url, given = "", repo
    if repo and "://" in repo:
        parsed = urlparse(repo)
        web_url = f"{parsed.scheme}://{parsed.netloc}"
        repo = parsed.path.strip("/").removesuffix(".git")
        driver = driver or _driver_for_host(parsed.hostname or "")
    driver = driver or ci_env.driver_from_env(env)
    if driver is None:
        raise UsageError(
            "cannot tell which forge this is: not in GitHub Actions, GitLab CI or Bitbucket "
            "Pipelines",
            "pass --driver github|gitlab|bitbucket and --repo URL",
        )
    if driver not in DRIVERS:
        raise UsageError(f"--driver {driver!r} is not one of {', '.join(DRIVERS)}")
    fields = ci_env.fields(driver, env, repo, web_url)
    if not fields["repo"]:
        raise UsageError(
            f"no {driver} repository given and none found in the CI environment",
            "pass --repo https://host/owner/name",
        )
    scope = parse_scope(driver, fields["repo"], given or fields["repo"], given=bool(given))
    if not owner_ok and scope in ("organization", "group", "workspace"):
        raise UsageError(
            f"--repo {given!r} names a {driver} {scope}, not a repository",
            "this command needs a repository: pass --repo https://host/owner/name "
            "(only runner launch, runner destroy and gc take an organization-level URL)",
        )
    if not owner_ok and scope == "project-or-group":
        scope = "repository"  # comments, PRs, assets: a GitLab path is a project here
    secret, var = _token(driver, env, token)
    if not fields.get("commit"):
        fields["commit"] = ci_env.head_commit()
    return ForgeContext(driver=driver, token=secret, token_var=var, scope=scope, **fields)


def _token(driver: str, env: Mapping[str, str], token: str | None) -> tuple[Secret, str]:
    if token:
        return Secret(token), "--token"
    for var in TOKEN_VARS[driver]:
        if env.get(var):
            return Secret(env[var]), var
    names = " or ".join(TOKEN_VARS[driver])
    raise CmlinfraError(
        f"no {driver} token found", f"set {names} to {TOKEN_NEEDS[driver]}, or pass --token"
    )
