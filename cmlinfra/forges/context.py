"""Which forge, repository, token, commit and PR this run is about — inferred from the CI
environment the way CML does it (what each CI's variables say: :mod:`cmlinfra.forges.ci_env`),
or given with ``--driver``/``--repo``/``--token``, which win.

Here the pieces become one :class:`ForgeContext`: the driver (from the flag, the ``--repo``
URL's host, or the CI), the scope of the repository path (a repository, or an owner whose
runners every repository shares), and the token (:mod:`cmlinfra.forges.tokens`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlparse

from cmlinfra.errors import UsageError
from cmlinfra.forges import ci_env
from cmlinfra.forges.tokens import find_token
from cmlinfra.secrets import Secret

DRIVERS = ("github", "gitlab", "bitbucket")

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
# A path segment as the forges allow them: GitHub's own ".github" repositories start with a dot
_SEGMENT = re.compile(r"(?!\.\.?$)[A-Za-z0-9_.][A-Za-z0-9_.-]*")
# Hosts whose "www." name serves the same forge (the API host is derived from the web host)
_WWW = ("www.github.com", "www.gitlab.com", "www.bitbucket.org")


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
    # how the command takes a token on its command line ("": it takes none), which a fix for a
    # rejected token offers
    token_option: str = "--token"
    commit: str = ""
    pr: int | None = None
    branch: str = ""
    run_id: str = ""
    workflow: str = ""
    scope: Scope = "repository"
    # GitHub organization runners: the runner group, by name or id as given ("": Default);
    # the driver resolves it against the organization's groups
    runner_group: str = ""

    @property
    def repo_url(self) -> str:
        """The web URL of the repository (or organization / group / workspace)."""
        return f"{self.web_url}/{self.repo}"

    @property
    def owner_level(self) -> bool:
        """Runners here serve every repository of an organization / group / workspace."""
        return self.scope in ("organization", "group", "workspace")

    def in_runner_group(self, group: str) -> ForgeContext:
        """This context with GitHub runner group ``group`` (a name or an id): only an
        organization has groups to choose from (a repository's runners are always in the
        Default group); whether the group exists is the driver's to ask."""
        group = group.strip()
        if group == self.runner_group:
            return self
        if (self.driver, self.scope) != ("github", "organization"):
            raise UsageError(
                f"--runner-group {group} needs a GitHub organization, and {self.repo_url} is "
                f"a {self.driver} {self.scope}",
                "pass --repo https://github.com/ORG, or leave --runner-group out",
            )
        if group.isascii() and group.isdigit() and int(group) < 1:
            raise UsageError(
                f"--runner-group {group} is not a runner group id (ids start at 1, Default)",
                "pass the group's name as the organization's settings show it, or its id",
            )
        return replace(self, runner_group=group)

    def served_by(self, url: str) -> bool:
        """Whether a runner registered at ``url`` takes this context's jobs: one registered at
        this very repository (or owner), or at an organization / group / workspace above this
        repository, on the same host. ``--reuse`` with a registry shared by many repositories
        must not hand repository B's job to repository A's runner."""
        if not url or _origin(url) != _origin(self.web_url):
            return False
        there = (_below(url, self.web_url) or "").lower()
        here = self.repo.lower()
        return bool(there) and (
            here == there or (not self.owner_level and here.startswith(there + "/"))
        )

    def retarget(self, url: str, *, base: str = "", api: str = "") -> ForgeContext | None:
        """The same forge and token pointed at another URL on the same host (a runner record
        from an organization-level launch, destroyed from a repository's CI job); None when
        ``url`` is on another forge, whose token this is not. ``base``, ``api``: the web and
        API base the record's launch used, which this context may not know (a GitLab under a
        relative URL, ``https://host/gitlab``, given as ``--repo`` outside CI); each is used
        only on this context's own host (the token goes nowhere else), with ``url`` below it."""
        if _origin(url) != _origin(self.web_url):
            return None
        web, api_url, base = self.web_url, self.api_url, base.rstrip("/")
        if base and _origin(base) == _origin(web) and _below(url, base):
            web = base
            api_url = api.rstrip("/") if api and _origin(api) == _origin(api_url) else api_url
        path = _below(url, web)
        if path is None:  # beside this forge's root on the same host: not this forge
            return None
        scope = parse_scope(self.driver, path, url, given=True)
        return replace(self, repo=path, web_url=web, api_url=api_url, scope=scope)


def _below(url: str, base: str) -> str | None:
    """``url``'s path below ``base``'s (``https://host/gitlab/g/p`` below
    ``https://host/gitlab``: ``g/p``), None when it is not below it."""
    path = urlparse(url).path.strip("/").removesuffix(".git")
    root = urlparse(base).path.strip("/")
    if not root:
        return path
    return path[len(root) + 1 :] if path.startswith(root + "/") else None


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port as the web compares them: case-insensitively, and with a
    "www." host the same as its forge (``HTTP://WWW.GitHub.com`` is ``https://github.com``)."""
    parsed = urlparse(url.strip())
    host = (parsed.hostname or "").lower()
    host = host.removeprefix("www.") if host in _WWW else host
    scheme = parsed.scheme.lower()
    if host in (w.removeprefix("www.") for w in _WWW):
        scheme = "https"  # the public forges redirect http to https
    return scheme, host, parsed.port


def _loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_https(url: str, what: str) -> str:
    """``url``, if a token may be sent to it: HTTPS, or plain HTTP to this machine only (a
    local test server). Anything else would hand the token to whoever is on the path."""
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return url
    if parsed.scheme == "http" and _loopback(parsed.hostname or ""):
        return url
    raise UsageError(
        f"{what} {url!r} is not an https:// URL: the forge token would travel in clear text",
        "use the forge's https:// address (plain http is only accepted for localhost)",
    )


def parse_scope(driver: str, path: str, shown: str, *, given: bool) -> Scope:
    """The scope of a repository path: one segment is an owner (organization, group,
    workspace), two a repository (GitLab: two or more, a project or a subgroup). ``given``:
    the path came from ``--repo``; the CI environment always names a repository as the forge
    spells it, so its value is trusted, and an error names where it came from."""
    segments = path.split("/") if path else []
    what = f"--repo {shown!r}" if given else f"the CI environment's repository {shown!r}"
    if given and not all(_SEGMENT.fullmatch(s) for s in segments):
        raise UsageError(
            f"{what} is not a {driver} repository or {OWNER_SCOPE[driver]} URL",
            f"pass --repo https://host/owner/name, or https://host/{OWNER_SCOPE[driver].upper()} "
            "for runners shared by all its repositories",
        )
    if len(segments) == 1:
        return OWNER_SCOPE[driver]
    if driver == "gitlab":
        return "project-or-group" if given else "repository"
    if len(segments) != 2:
        raise UsageError(
            f"{what} has {len(segments)} path segments: a {driver} repository has two "
            f"(owner/name) and {_a(OWNER_SCOPE[driver])} one",
            "pass the repository's URL itself, not a page inside it",
        )
    return "repository"


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _driver_for_host(host: str) -> str | None:
    host = host.lower().removeprefix("www.")
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
    token_option: str | None = "--token",
) -> ForgeContext:
    """The forge context of this run; flags win over the environment. ``owner_ok``: the
    caller manages runners, which may live at organization / group / workspace level; every
    other command needs a repository and says so. ``token_option``: how the calling command
    takes a token on its command line, which a missing token's fix names (None for a command
    that takes none, such as ``checkpoint restore``: the fix names only the variables)."""
    env = os.environ if env is None else env
    web_url, given = "", repo
    if repo and "://" in repo:
        parsed = urlparse(repo)
        web_url = f"{parsed.scheme}://{parsed.netloc}"
        if (parsed.hostname or "").lower() in _WWW:  # www.github.com: the forge itself
            web_url = "https://" + (parsed.hostname or "").lower().removeprefix("www.")
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
    require_https(fields["api_url"], f"the {driver} API URL")
    if given and "://" in given:
        require_https(web_url, "--repo")
    secret, var = find_token(driver, env, token, token_option)
    if not fields.get("commit"):
        fields["commit"] = ci_env.head_commit()
    return ForgeContext(
        driver=driver, token=secret, token_var=var, token_option=token_option or "",
        scope=scope, **fields,
    )  # fmt: skip
