"""Git set-up for commits and pushes from CI (``cmlinfra ci``): identity, a credential helper,
and a full history on demand.

The helper is a shell snippet git runs when it needs a password; it prints the token from the
environment at that moment, so the token is never written to ``.git/config`` or a remote URL.
It is configured for the forge's own host only (``credential.https://host.helper``): a
submodule, an LFS server or any other host git talks to never receives the forge token.

The username depends on the forge and on the kind of token: GitHub takes ``x-access-token``
for every token, GitLab wants ``gitlab-ci-token`` with the job token (CI_JOB_TOKEN) and any
non-blank name (``oauth2``) with a personal, project or group token, Bitbucket's access tokens
want ``x-token-auth``.

actions/checkout leaves ``http.https://github.com/.extraheader`` (an ``Authorization`` header
with the job's GITHUB_TOKEN); git sends it on every request, so a credential helper is never
asked and a personal token in REPO_TOKEN would be silently ignored. When a token is in the
environment, that header is removed (as ``cml ci`` does) so the token really is the one used.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from urllib.parse import urlparse

from cmlinfra.errors import CmlinfraError, UsageError

# (variables, username) in the order the helper tries them; the first one set wins
_TOKENS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "github": [(("REPO_TOKEN", "GITHUB_TOKEN"), "x-access-token")],
    "gitlab": [(("REPO_TOKEN", "GITLAB_TOKEN"), "oauth2"), (("CI_JOB_TOKEN",), "gitlab-ci-token")],
    "bitbucket": [(("REPO_TOKEN", "BITBUCKET_TOKEN"), "x-token-auth")],
}


def helper(driver: str) -> str:
    """The credential helper for ``driver``: prints a username and the token, read from the
    environment when git asks (only for ``get``), and nothing when no token is set."""
    branches = []
    for names, user in _TOKENS[driver]:
        # ${A:-${B}}: the first variable that is set
        value = "".join("${" + n + ":-" for n in names[:-1]) + f"${names[-1]}"
        value += "}" * (len(names) - 1)
        branches.append(
            f't="{value}"; if test -n "$t"; then echo username={user}; '
            'echo "password=$t"; exit 0; fi; '
        )
    return '!f() { test "$1" = get || exit 0; ' + "".join(branches) + "}; f"


def token_in_env(driver: str, env: Mapping[str, str]) -> bool:
    return any(env.get(n) for names, _ in _TOKENS[driver] for n in names)


def git(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    """``git ARGS``; a failure is one line naming git's own last message."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password in CI
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, env=env)
    except OSError as exc:
        raise CmlinfraError(f"cannot run git: {exc}", "install git on the runner") from exc
    if done.returncode not in ok:
        lines = done.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise CmlinfraError(f"git {args[0]} failed: {reason}", _FIX.get(args[0], ""))
    return done.stdout.strip()


_FIX = {
    "rev-parse": "run cmlinfra ci inside the repository checkout",
    "fetch": "check that the token in REPO_TOKEN can read the repository",
}


def _driver_for_host(host: str) -> str | None:
    from cmlinfra.forges.context import _driver_for_host as guess

    return guess(host)


def _origin() -> str:
    """The web URL (scheme://host[:port]) of the ``origin`` remote, "" when there is none or
    it is not HTTP(S): only HTTP(S) pushes use a credential helper."""
    url = git("remote", "get-url", "origin", ok=(0, 2))
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.hostname.lower()}{port}"


def forge_url(driver: str | None, repo: str | None, env: Mapping[str, str]) -> tuple[str, str]:
    """(driver, web URL) of the forge this checkout pushes to: ``--repo``'s URL, else the CI's
    own server, else the ``origin`` remote."""
    from cmlinfra.forges import ci_env

    web = ""
    if repo and "://" in repo:
        parsed = urlparse(repo)
        web = f"{parsed.scheme}://{parsed.netloc.rsplit('@', 1)[-1].lower()}"
    in_ci = ci_env.driver_from_env(env)
    driver = driver or (_driver_for_host(urlparse(web).hostname or "") if web else None) or in_ci
    if not web and driver and driver == in_ci:
        web = ci_env.fields(driver, env, None, "")["web_url"]
    web = web or _origin()
    driver = driver or _driver_for_host(urlparse(web).hostname or "")
    if driver in _TOKENS and not web:
        web = ci_env.fields(driver, env, None, "")["web_url"]  # the forge's public host
    if driver not in _TOKENS or not web:
        raise UsageError(
            "cannot tell which forge this checkout pushes to",
            "pass --driver github|gitlab|bitbucket and --repo https://host/owner/name",
        )
    return driver, web.rstrip("/")


def configure_credentials(driver: str, web: str, env: Mapping[str, str]) -> list[str]:
    """Scope the helper to ``web``'s host and make the environment's token the one git uses;
    returns what was done, for the log."""
    from cmlinfra.forges.context import require_https

    require_https(web, "the forge's git URL")  # never a helper that prints a token over http
    done = []
    key = f"credential.{web}.helper"
    # "" first resets the helpers of lower-priority config (a runner's global store or
    # manager), so git asks this helper, not a cached credential, for this host
    git("config", "--local", "--replace-all", key, "")
    git("config", "--local", "--add", key, helper(driver))
    done.append(f"credential helper for {web}")
    header = f"http.{web}/.extraheader"
    if token_in_env(driver, env) and git("config", "--get-all", header, ok=(0, 1)):
        git("config", "--local", "--unset-all", header, ok=(0, 5))
        if git("config", "--get-all", header, ok=(0, 1)):  # set by an included config file
            git("config", "--local", "--add", header, "")  # an empty value resets the list
        done.append(f"removed the {header} left by the checkout step")
    return done


def unshallow() -> bool:
    """Fetch the full history when the clone is shallow (CI clones often are)."""
    if git("rev-parse", "--is-shallow-repository") != "true":
        return False
    git("fetch", "--unshallow")
    return True


def fetch_depth(depth: int) -> str:
    """CML's ``ci --fetch-depth``: ``0`` (or less) fetches every branch and tag with the whole
    history, when the clone is shallow; ``N`` fetches every branch and tag ``N`` commits deep.
    Returns what was done, for the progress line ("" when there was nothing to do)."""
    if depth <= 0:
        if git("rev-parse", "--is-shallow-repository") != "true":
            return ""
        git("fetch", "--all", "--tags", "--unshallow")
        return "fetched every branch and tag with the full history"
    git("fetch", "--all", "--tags", "--depth", str(depth))
    return f"fetched every branch and tag, {depth} commit{'s' if depth != 1 else ''} deep"
