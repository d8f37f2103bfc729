"""Inferring forge, repository, token, commit and PR from CI variables, as CML does."""

from __future__ import annotations

import json
import re

import pytest

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.forges.context import detect


def test_github_actions_pull_request_event(tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 12, "head": {"sha": "h" * 40}}}))
    env = {
        "GITHUB_REPOSITORY": "octo/demo",
        "GITHUB_SHA": "m" * 40,
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_TOKEN": "ghs_abcdefgh",
        "GITHUB_HEAD_REF": "feature",
    }
    ctx = detect(env)
    assert (ctx.driver, ctx.repo, ctx.pr, ctx.commit) == ("github", "octo/demo", 12, "h" * 40)
    assert ctx.api_url == "https://api.github.com" and ctx.web_url == "https://github.com"
    assert ctx.branch == "feature" and ctx.token.reveal() == "ghs_abcdefgh"
    assert ctx.token_var == "GITHUB_TOKEN"


def test_repo_token_wins_and_enterprise_urls() -> None:
    env = {
        "GITHUB_REPOSITORY": "team/repo",
        "GITHUB_SERVER_URL": "https://ghe.example.com",
        "GITHUB_TOKEN": "ghs_lowpriority",
        "REPO_TOKEN": "ghp_highpriority",
        "GITHUB_SHA": "a" * 40,
    }
    ctx = detect(env)
    assert ctx.api_url == "https://ghe.example.com/api/v3"
    assert ctx.token.reveal() == "ghp_highpriority"
    assert (
        detect({**env, "GITHUB_API_URL": "https://api.ghe.test"}).api_url == "https://api.ghe.test"
    )


def test_gitlab_self_managed_merge_request_pipeline() -> None:
    env = {
        "CI_PROJECT_URL": "https://git.example.com/group/sub/proj",
        "CI_SERVER_URL": "https://git.example.com",
        "CI_API_V4_URL": "https://git.example.com/api/v4",
        "CI_COMMIT_SHA": "c" * 40,
        "CI_MERGE_REQUEST_IID": "5",
        "CI_JOB_TOKEN": "job-token-xyz",
    }
    ctx = detect(env)
    assert (ctx.driver, ctx.repo, ctx.pr) == ("gitlab", "group/sub/proj", 5)
    assert ctx.api_url == "https://git.example.com" and ctx.token_var == "CI_JOB_TOKEN"


def test_bitbucket_pipelines() -> None:
    env = {
        "BITBUCKET_WORKSPACE": "ws",
        "BITBUCKET_REPO_SLUG": "demo",
        "BITBUCKET_COMMIT": "d" * 40,
        "BITBUCKET_PR_ID": "3",
        "BITBUCKET_TOKEN": "user:app-password",
    }
    ctx = detect(env)
    assert (ctx.driver, ctx.repo, ctx.pr) == ("bitbucket", "ws/demo", 3)
    assert ctx.api_url == "https://api.bitbucket.org/2.0"


@pytest.mark.parametrize(
    ("extra", "workflow"),
    [
        ({"BITBUCKET_PR_ID": "3"}, "pull-requests"),
        ({"BITBUCKET_TAG": "v1"}, "tags"),
        ({}, "branches"),
    ],
)
def test_bitbucket_workflow_is_the_pipeline_section_not_the_run(extra, workflow) -> None:
    base = {"BITBUCKET_REPO_FULL_NAME": "ws/demo", "BITBUCKET_REPO_SLUG": "demo"}
    base.update(BITBUCKET_COMMIT="d" * 40, BITBUCKET_BRANCH="main", BITBUCKET_TOKEN="t")
    seen = {
        detect({**base, **extra, "BITBUCKET_PIPELINE_UUID": uuid}).workflow
        for uuid in ("{aaa-1}", "{bbb-2}")
    }
    assert seen == {workflow}


@pytest.mark.parametrize(
    ("url", "driver", "repo"),
    [
        ("https://github.com/octo/demo.git", "github", "octo/demo"),
        ("https://gitlab.com/g/s/p", "gitlab", "g/s/p"),
        ("https://bitbucket.org/ws/demo", "bitbucket", "ws/demo"),
    ],
)
def test_repo_flag_url_picks_the_driver(url, driver, repo) -> None:
    ctx = detect({}, repo=url, token="tok-123456")
    assert (ctx.driver, ctx.repo) == (driver, repo)


def test_errors_are_one_line() -> None:
    with pytest.raises(UsageError, match="--driver"):
        detect({})
    with pytest.raises(UsageError, match="not one of"):
        detect({}, driver="gitea", repo="a/b", token="x")
    with pytest.raises(CmlinfraError, match="set REPO_TOKEN or GITHUB_TOKEN"):
        detect({"GITHUB_REPOSITORY": "a/b"})


def test_a_dot_github_repository_works_from_ci_and_from_repo() -> None:
    """GitHub's own ``.github`` repositories start with a dot; every command must work there."""
    env = {"GITHUB_REPOSITORY": "acme/.github", "GITHUB_TOKEN": "ghs_abcdefgh"}
    assert detect(env).repo == "acme/.github"
    assert detect({}, repo="https://github.com/acme/.github", token="t").repo == "acme/.github"
    with pytest.raises(UsageError, match=re.escape("--repo 'https://github.com/acme/..'")):
        detect({}, repo="https://github.com/acme/..", token="t", owner_ok=True)


def test_a_ci_repository_error_names_the_ci_environment_not_repo() -> None:
    env = {"GITHUB_REPOSITORY": "acme/ml/extra", "GITHUB_TOKEN": "ghs_abcdefgh"}
    with pytest.raises(UsageError) as info:
        detect(env)
    line = info.value.line()
    assert "the CI environment's repository 'acme/ml/extra' has 3 path segments" in line
    assert "--repo 'acme" not in line and "an organization one" in line


@pytest.mark.parametrize(
    ("env", "repo", "api"),
    [
        (  # a github.com job naming an Enterprise repository: not api.github.com
            {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "https://api.github.com"},
            "https://ghe.corp.com/acme/ml",
            "https://ghe.corp.com/api/v3",
        ),
        (  # the CI's own host: its API URL is the one to use
            {"GITHUB_SERVER_URL": "https://GHE.corp.com", "GITHUB_API_URL": "https://api.ghe.x"},
            "https://ghe.corp.com/acme/ml",
            "https://api.ghe.x",
        ),
        (
            {"CI_SERVER_URL": "https://gitlab.com", "CI_API_V4_URL": "https://gitlab.com/api/v4"},
            "https://git.corp.com/grp/proj",
            "https://git.corp.com",
        ),
        (
            {"CI_SERVER_URL": "https://git.corp.com", "CI_API_V4_URL": "https://api.corp/api/v4"},
            "https://git.corp.com/grp/proj",
            "https://api.corp",
        ),
    ],
)
def test_ci_api_url_is_used_only_for_the_ci_servers_own_host(env, repo, api) -> None:
    ci = {"GITHUB_REPOSITORY": "x/y"} if "GITHUB_SERVER_URL" in env else {"GITLAB_CI": "true"}
    assert detect({**ci, **env, "REPO_TOKEN": "t"}, repo=repo).api_url == api


def test_www_host_is_the_forge_itself() -> None:
    ctx = detect({}, repo="https://www.github.com/acme", token="t", owner_ok=True)
    assert (ctx.driver, ctx.scope, ctx.web_url) == ("github", "organization", "https://github.com")
    assert ctx.api_url == "https://api.github.com"
