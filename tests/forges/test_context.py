"""Inferring forge, repository, token, commit and PR from CI variables, as CML does."""

from __future__ import annotations

import json

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
