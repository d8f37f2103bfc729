"""What each CI service's environment says about the run: repository, web and API URLs,
commit, PR, branch, run and workflow — read the way CML reads them.

GitHub Actions: GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_EVENT_PATH (a pull_request event carries
the PR number and its *head* SHA: GITHUB_SHA is a merge commit there), GITHUB_SERVER_URL and
GITHUB_API_URL (Enterprise). GitLab CI: CI_PROJECT_URL, CI_SERVER_URL, CI_API_V4_URL,
CI_COMMIT_SHA, CI_MERGE_REQUEST_IID. Bitbucket Pipelines: BITBUCKET_WORKSPACE,
BITBUCKET_REPO_SLUG, BITBUCKET_COMMIT, BITBUCKET_PR_ID. Outside CI, ``git`` answers the commit.
:mod:`cmlinfra.forges.context` turns these fields, the flags and the token into a context.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from typing import Any, TypedDict
from urllib.parse import urlparse


class Fields(TypedDict):
    """A ForgeContext's fields that the CI environment can know (not driver, token, scope)."""

    repo: str
    web_url: str
    api_url: str
    commit: str
    pr: int | None
    branch: str
    run_id: str
    workflow: str


def fields(driver: str, env: Mapping[str, str], repo: str | None, web_url: str) -> Fields:
    """The run as ``driver``'s CI describes it; ``repo`` and ``web_url`` (from ``--repo``)
    win over the environment."""
    read = {"github": _github, "gitlab": _gitlab, "bitbucket": _bitbucket}[driver]
    return read(env, repo, web_url)


def driver_from_env(env: Mapping[str, str]) -> str | None:
    """The forge whose CI this is, if any."""
    if env.get("GITHUB_REPOSITORY"):
        return "github"
    if env.get("CI_PROJECT_URL") or env.get("GITLAB_CI"):
        return "gitlab"
    if env.get("BITBUCKET_REPO_SLUG"):
        return "bitbucket"
    return None


def head_commit() -> str:
    """Outside CI (or where CI does not say): the checkout's HEAD, "" without one."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _github_event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def github_fork(env: Mapping[str, str]) -> str:
    """The fork a pull_request event's head lives in ("alice/demo"), or "" when the PR is not
    from a fork: GitHub gives such runs a read-only token whatever the workflow asks for."""
    pull = _github_event(env).get("pull_request")
    head = pull.get("head") if isinstance(pull, dict) else None
    repo = head.get("repo") if isinstance(head, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    base = env.get("GITHUB_REPOSITORY", "")
    return name if isinstance(name, str) and name and base and name != base else ""


def _same_host(given: str, ci_server: str) -> bool:
    """Whether ``--repo``'s host (``given``; "" when --repo gave none) is the CI's own server,
    whose API URL the CI's variables then name. Another host's API is derived from its web
    URL: a github.com job must not send ``--repo https://ghe.corp.com/…`` to api.github.com."""
    if not given:
        return True
    a, b = urlparse(given), urlparse(ci_server)
    return (a.hostname or "").lower() == (b.hostname or "").lower() and a.port == b.port


def _github(env: Mapping[str, str], repo: str | None, web_url: str) -> Fields:
    ci_server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    own_api = _same_host(web_url, ci_server)
    web_url = web_url or ci_server
    if env.get("GITHUB_API_URL") and own_api:
        api_url = env["GITHUB_API_URL"].rstrip("/")
    elif urlparse(web_url).hostname == "github.com":
        api_url = "https://api.github.com"
    else:
        api_url = f"{web_url}/api/v3"  # GitHub Enterprise Server
    pull = _github_event(env).get("pull_request")
    commit, pr = env.get("GITHUB_SHA", ""), None
    if isinstance(pull, dict):  # a pull_request event: GITHUB_SHA is a merge commit there
        head = pull.get("head")
        commit = str(head.get("sha") or commit) if isinstance(head, dict) else commit
        pr = int(pull["number"]) if pull.get("number") else None
    return {
        "repo": repo or env.get("GITHUB_REPOSITORY", ""),
        "web_url": web_url,
        "api_url": api_url,
        "commit": commit,
        "pr": pr,
        "branch": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME", ""),
        "run_id": env.get("GITHUB_RUN_ID", ""),
        "workflow": env.get("GITHUB_WORKFLOW", ""),
    }


def _gitlab(env: Mapping[str, str], repo: str | None, web_url: str) -> Fields:
    project = urlparse(env.get("CI_PROJECT_URL", ""))
    ci_server = env.get("CI_SERVER_URL", "").rstrip("/")
    if not ci_server and project.netloc:
        ci_server = f"{project.scheme}://{project.netloc}"
    ci_server = ci_server or "https://gitlab.com"
    own_api = _same_host(web_url, ci_server)
    from_url = bool(web_url)  # --repo URL; a plain --repo group/proj is the project's own path
    if not repo and project.netloc:
        repo, web_url, from_url = project.path.strip("/"), "", True
    if repo and from_url and own_api:
        web_url, repo = _below_root(web_url or ci_server, repo, ci_server)
    web_url = web_url or ci_server
    api = env.get("CI_API_V4_URL", "").rstrip("/").removesuffix("/api/v4") if own_api else ""
    iid = env.get("CI_MERGE_REQUEST_IID")
    return {
        "repo": repo or env.get("CI_PROJECT_PATH", ""),
        "web_url": web_url,
        "api_url": api or web_url,  # the driver adds /api/v4 (it is part of the API's paths)
        "commit": env.get("CI_COMMIT_SHA", ""),
        "pr": int(iid) if iid else None,
        "branch": env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        or env.get("CI_COMMIT_REF_NAME", ""),
        "run_id": env.get("CI_PIPELINE_ID", ""),
        "workflow": env.get("CI_JOB_NAME", ""),
    }


def _below_root(web_url: str, path: str, ci_server: str) -> tuple[str, str]:
    """A GitLab served under a relative URL (``CI_SERVER_URL`` ``https://host/gitlab``) has
    its projects below that root: ``https://host/gitlab/group/proj`` is project
    ``group/proj`` (its ``CI_PROJECT_PATH``, the path its API knows) of the instance
    ``https://host/gitlab``, whose API is ``https://host/gitlab/api/v4``. A path not below the
    root is left as it is."""
    root = urlparse(ci_server).path.strip("/")
    if not root or not path.startswith(root + "/"):
        return web_url, path
    origin = urlparse(web_url)
    return f"{origin.scheme}://{origin.netloc}/{root}", path[len(root) + 1 :]


def _bitbucket(env: Mapping[str, str], repo: str | None, web_url: str) -> Fields:
    if not repo and env.get("BITBUCKET_REPO_FULL_NAME"):
        repo = env["BITBUCKET_REPO_FULL_NAME"]
    if not repo and env.get("BITBUCKET_WORKSPACE") and env.get("BITBUCKET_REPO_SLUG"):
        repo = f"{env['BITBUCKET_WORKSPACE']}/{env['BITBUCKET_REPO_SLUG']}"
    pr = env.get("BITBUCKET_PR_ID")
    return {
        "repo": repo or "",
        "web_url": web_url or "https://bitbucket.org",
        # BITBUCKET_API_URL is cmlinfra's own (Bitbucket Cloud has one API host); tests use it
        "api_url": env.get("BITBUCKET_API_URL", "https://api.bitbucket.org/2.0").rstrip("/"),
        "commit": env.get("BITBUCKET_COMMIT", ""),
        "pr": int(pr) if pr else None,
        "branch": env.get("BITBUCKET_BRANCH", ""),
        "run_id": env.get("BITBUCKET_BUILD_NUMBER", ""),
        "workflow": _bitbucket_workflow(env),
    }


def _bitbucket_workflow(env: Mapping[str, str]) -> str:
    """Bitbucket has no pipeline name variable, and its pipeline UUID changes every run (which
    would make ``--watermark-title "train {workflow}"`` leave one comment per run): use the
    ``bitbucket-pipelines.yml`` section that triggered the run, stable across runs."""
    if env.get("BITBUCKET_PR_ID"):
        return "pull-requests"
    return "tags" if env.get("BITBUCKET_TAG") else "branches"
