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


def test_a_missing_tokens_fix_offers_the_commands_own_option_or_none() -> None:
    """Every command with --token is offered it; one without (checkpoint restore) is told
    only which variables to set, by detect itself, not by trimming its words afterwards."""
    env = {"BITBUCKET_REPO_FULL_NAME": "ws/demo"}
    needs = "set REPO_TOKEN or BITBUCKET_TOKEN to a repository access token, or user:app-password"
    with pytest.raises(CmlinfraError) as offered:
        detect(env, driver="bitbucket")
    assert offered.value.fix == f"{needs}, or pass --token"
    for none in (None, ""):
        with pytest.raises(CmlinfraError) as told:
            detect(env, driver="bitbucket", token_option=none)
        assert told.value.fix == needs and "--token" not in told.value.line()


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


# A GitLab served under a relative URL: https://git.corp.com/gitlab, its API under /gitlab/api/v4
SUBPATH_CI = {
    "GITLAB_CI": "true",
    "CI_PROJECT_URL": "https://git.corp.com/gitlab/group/proj",
    "CI_PROJECT_PATH": "group/proj",
    "CI_SERVER_URL": "https://git.corp.com/gitlab",
    "CI_API_V4_URL": "https://git.corp.com/gitlab/api/v4",
    "REPO_TOKEN": "t",
}


@pytest.mark.parametrize(
    "repo",
    [None, "https://git.corp.com/gitlab/group/proj", "https://git.corp.com/gitlab/group/proj.git"],
)
def test_gitlab_under_a_relative_url_names_the_project_below_its_root(repo: str | None) -> None:
    """The project is ``group/proj`` (CI_PROJECT_PATH, the path the API knows) of the
    instance ``https://git.corp.com/gitlab``, from the CI's variables or a ``--repo`` URL on
    that instance; its runner registers at the instance's URL, root included."""
    ctx = detect(SUBPATH_CI, repo=repo, owner_ok=True)
    assert (ctx.repo, ctx.web_url, ctx.api_url) == (
        "group/proj",
        "https://git.corp.com/gitlab",
        "https://git.corp.com/gitlab",
    )
    assert ctx.repo_url == "https://git.corp.com/gitlab/group/proj"
    # outside CI, CI_SERVER_URL says where the root is
    outside = {"CI_SERVER_URL": "https://git.corp.com/gitlab", "REPO_TOKEN": "t"}
    ctx = detect(outside, driver="gitlab", repo="https://git.corp.com/gitlab/group/proj")
    assert (ctx.repo, ctx.api_url) == ("group/proj", "https://git.corp.com/gitlab")
    # a plain --repo path is the project's own path, root or not
    assert detect(SUBPATH_CI, repo="gitlab/x").repo == "gitlab/x"
    # outside that instance's root, nothing is cut
    other = detect(SUBPATH_CI, repo="https://git.corp.com/grp/proj")
    assert (other.repo, other.web_url) == ("grp/proj", "https://git.corp.com")


def test_gitlab_under_a_relative_url_reuses_and_retargets_below_its_root() -> None:
    ctx = detect(SUBPATH_CI, owner_ok=True)
    assert ctx.served_by("https://git.corp.com/gitlab/group/proj")
    assert ctx.served_by("https://git.corp.com/gitlab/group")
    assert not ctx.served_by("https://git.corp.com/group/proj")  # not this instance's
    there = ctx.retarget("https://git.corp.com/gitlab/group/other")
    assert there is not None and (there.repo, there.web_url, there.api_url) == (
        "group/other",
        "https://git.corp.com/gitlab",
        "https://git.corp.com/gitlab",
    )
    assert ctx.retarget("https://git.corp.com/elsewhere/x") is None  # beside the root


def test_retarget_takes_the_records_base_on_this_host_only() -> None:
    """``--repo`` outside CI cannot tell that a GitLab lies under a relative URL: the runner's
    record, which kept the web and API base its launch used, points the connection there —
    but the token never follows a base on another host."""
    url = "https://git.corp.com/gitlab/group/proj"
    ctx = detect({"REPO_TOKEN": "t"}, driver="gitlab", repo=url)
    assert (ctx.repo, ctx.api_url) == ("gitlab/group/proj", "https://git.corp.com")  # a guess
    base = "https://git.corp.com/gitlab"
    there = ctx.retarget(url, base=base, api=base)
    assert there is not None and (there.repo, there.web_url, there.api_url) == (
        "group/proj",
        base,
        base,
    )
    elsewhere = ctx.retarget(url, base=base, api="https://evil.example/gitlab")
    assert elsewhere is not None and elsewhere.api_url == "https://git.corp.com"
    assert ctx.retarget(url, base="https://evil.example/gitlab", api=base) == ctx.retarget(url)
    # a base the URL does not lie below is not the record's forge: ignored
    assert ctx.retarget(url, base="https://git.corp.com/other", api=base) == ctx.retarget(url)
