"""What a user sees when the forge says no, and how transient failures are ridden out."""

from __future__ import annotations

from pathlib import Path

import pytest


def _report(tmp_path: Path) -> Path:
    path = tmp_path / "report.md"
    path.write_text("# Report\n")
    return path


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("github", "pass --token or set REPO_TOKEN: a valid token"),
        ("gitlab", "pass --token or set REPO_TOKEN (or GITLAB_TOKEN)"),
        ("bitbucket", "pass --token or set REPO_TOKEN (or BITBUCKET_TOKEN)"),
    ],
)
def test_bad_token_is_one_line_naming_the_variable(cli, forge_repo, tmp_path, kind, needle) -> None:
    repo = forge_repo(kind)
    token_var = {"github": "REPO_TOKEN", "gitlab": "GITLAB_TOKEN", "bitbucket": "BITBUCKET_TOKEN"}
    env = repo.env(**{token_var[kind]: "wrong-token-value-123"})
    result = cli("comment", "create", str(_report(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "the token was rejected" in result.stderr and needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "wrong-token-value-123" not in result.stderr + result.stdout
    assert repo.comments() == []


def test_bad_token_given_as_option_names_the_option(cli, forge_repo, tmp_path) -> None:
    """The token came from --token, not REPO_TOKEN: the fix must not send the user hunting for
    a variable they never set."""
    repo = forge_repo("github")
    result = cli("comment", "create", str(_report(tmp_path)), "--token", "wrong-token-value-123",
                 cwd=tmp_path, env=repo.env())  # fmt: skip
    assert result.returncode == 1
    assert "the token was rejected" in result.stderr and "--token" in result.stderr
    assert "wrong-token-value-123" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("pattern", "args", "permission"),
    [
        (r"/issues/\d+/comments", ("comment", "create", "REPORT"), "pull-requests: write"),
        (r"/check-runs", ("check", "create", "REPORT"), "checks: write"),
        (r"/actions/runs/", ("workflow", "rerun"), "actions: write"),
    ],
)
def test_missing_permission_names_what_to_add(
    cli, forge_repo, tmp_path, pattern, args, permission
) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    repo.server.fail(
        "github", "POST", pattern, 403, "Resource not accessible by integration", times=None
    )
    argv = [str(_report(tmp_path)) if a == "REPORT" else a for a in args]
    result = cli(*argv, cwd=tmp_path, env=repo.env())
    assert result.returncode == 1
    assert "Resource not accessible by integration" in result.stderr
    assert f"add `permissions: {permission}` to the workflow job" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("head_repo", "fork"), [("alice/demo", True), (None, False)])
def test_a_fork_pr_403_says_the_token_is_read_only(
    cli, forge_repo, tmp_path, head_repo, fork
) -> None:
    import json

    repo = forge_repo("github")
    pr = repo.add_pr()
    head_repo = head_repo or repo.name
    event = tmp_path / "event.json"
    head = {"sha": repo.commit, "repo": {"full_name": head_repo}}
    event.write_text(json.dumps({"pull_request": {"number": pr.number, "head": head}}))
    env = repo.env(GITHUB_EVENT_NAME="pull_request", GITHUB_EVENT_PATH=str(event))
    repo.server.fail(
        "github", "POST", r"/issues/\d+/comments", 403, "Resource not accessible by integration"
    )
    result = cli("comment", "create", str(_report(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert ("fork alice/demo" in result.stderr) is fork
    assert ("workflow_run" in result.stderr) is fork
    assert ("add `permissions:" in result.stderr) is not fork


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (429, {"Retry-After": "0"}),
        (403, {"retry-after": "0"}),  # GitHub's secondary rate limit
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"}),  # primary, reset past
        (502, {}),
        (503, {}),
    ],
)
def test_transient_failures_are_retried_once_then_succeed(forge_repo, status, headers) -> None:
    from cmlinfra.forges.base import Target

    repo = forge_repo("github")
    pr = repo.add_pr()
    repo.server.fail(
        "github", "POST", r"/issues/\d+/comments", status, "slow down", headers=headers
    )
    comment = repo.driver().create_comment(Target("pr", str(pr.number)), "hello")
    assert comment.body == "hello"
    posts = [c.status for c in repo.server.api_calls() if c.method == "POST"]
    assert posts == [status, 201]
    assert len(repo.comments()) == 1


def test_retries_are_bounded(forge_repo, monkeypatch) -> None:
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges import http
    from cmlinfra.forges.base import Target

    monkeypatch.setattr(http, "BACKOFF", 0.01)  # the policy under test is the bound, not the wait
    repo = forge_repo("github")
    pr = repo.add_pr()
    repo.server.fail("github", "POST", r"/issues/\d+/comments", 500, "boom", times=None)
    with pytest.raises(CmlinfraError, match="HTTP 500 after retries"):
        repo.driver().create_comment(Target("pr", str(pr.number)), "hello")
    assert 2 <= len(repo.server.api_calls()) <= 6


def test_rate_limit_longer_than_the_cap_fails_instead_of_hanging(forge_repo) -> None:
    import time

    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges.base import Target

    repo = forge_repo("github")
    pr = repo.add_pr()
    reset = str(int(time.time()) + 3600)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    repo.server.fail("github", "GET", r"/comments", 403, "API rate limit exceeded", headers=headers)
    with pytest.raises(CmlinfraError, match="rate limit is exhausted"):
        repo.driver().list_comments(Target("pr", str(pr.number)))


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"GITHUB_REPOSITORY": "octo/demo"}, "REPO_TOKEN or GITHUB_TOKEN"),
        (
            {"CI_PROJECT_URL": "https://gitlab.test/g/p"},
            "REPO_TOKEN or GITLAB_TOKEN or CI_JOB_TOKEN",
        ),
        ({"BITBUCKET_REPO_SLUG": "p", "BITBUCKET_WORKSPACE": "w"}, "REPO_TOKEN or BITBUCKET_TOKEN"),
    ],
)
def test_missing_token_names_the_variables(cli, tmp_path, env, names) -> None:
    result = cli("comment", "create", str(_report(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert f"no {'github' if 'GITHUB_REPOSITORY' in env else ''}" in result.stderr
    assert f"set {names}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_forge_at_all_is_a_usage_error(cli, tmp_path) -> None:
    result = cli("comment", "create", str(_report(tmp_path)), cwd=tmp_path)
    assert result.returncode == 2
    assert "pass --driver" in result.stderr


def test_unsupported_operations_say_so(cli, forge_repo, tmp_path) -> None:
    gitlab = forge_repo("gitlab")
    result = cli("check", "create", str(_report(tmp_path)), cwd=tmp_path, env=gitlab.env())
    assert result.returncode == 1
    assert "check create is not supported on GitLab" in result.stderr
    bitbucket = forge_repo("bitbucket")
    result = cli("check", "create", str(_report(tmp_path)), cwd=tmp_path, env=bitbucket.env())
    assert result.returncode == 1
    assert "check create is not supported on Bitbucket" in result.stderr


def test_the_fake_refuses_what_the_real_api_would(forge, forge_repo) -> None:
    """The guard itself: a request outside the description is a 400 and a violation."""
    import requests

    repo = forge_repo("github")
    headers = {"Authorization": f"Bearer {forge.token}"}
    url = f"{forge.url}/repos/{repo.name}/issues/1/comments"
    assert (
        requests.post(url, json={"text": "no body field"}, headers=headers, timeout=10).status_code
        == 400
    )
    assert (
        requests.get(
            f"{forge.url}/repos/{repo.name}/nothing", headers=headers, timeout=10
        ).status_code
        == 404
    )
    found = forge.take_violations()
    assert len(found) == 2
    assert "'body' is a required property" in found[0] and "no such operation" in found[1]


def test_debug_output_never_shows_the_token(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    (tmp_path / "p.png").write_bytes(b"png")
    report = tmp_path / "report.md"
    report.write_text("# R\n\n![p](p.png)\n")
    result = cli("--log", "debug", "comment", "update", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert repo.server.token not in result.stdout + result.stderr
    repo.server.fail("github", "PATCH", "/comments/", 401, "Bad credentials")
    report.write_text("# R2\n\n![p](p.png)\n")  # a change, so there is a write to refuse
    result = cli("--log", "debug", "comment", "update", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 1
    assert repo.server.token not in result.stdout + result.stderr


def test_a_gitlab_project_not_found_outside_ci_names_a_relative_url_root(
    cli, forge, forge_repo, tmp_path
) -> None:
    """``--repo https://host/gitlab/group/proj`` outside CI: the URL cannot say that GitLab is
    served under /gitlab, so the API answers 404 for project gitlab/group/proj. The fix names
    what tells it (CI_SERVER_URL), not only the repository name."""
    repo = forge_repo("gitlab", "group/demo")
    env = {"GITLAB_TOKEN": repo.env()["GITLAB_TOKEN"]}
    url = f"{forge.url}/gitlab/group/demo"
    result = cli("workflow", "rerun", "--id", "1", "--driver", "gitlab", "--repo", url,
                 cwd=tmp_path, env=env)  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "HTTP 404" in line and "gitlab%2Fgroup%2Fdemo" in line
    assert f"set CI_SERVER_URL to it ({forge.url}/gitlab)" in line
    assert repo.env()["GITLAB_TOKEN"] not in result.stderr + result.stdout


def test_gitlab_runners_not_found_outside_ci_name_a_relative_url_root(
    cli, forge, forge_repo, tmp_path
) -> None:
    """The same for the runners' project-or-group lookup (``gc``, ``runner launch`` and
    ``runner destroy`` with ``--repo https://host/gitlab/group/proj`` outside CI)."""
    repo = forge_repo("gitlab", "group/demo")
    env = {"GITLAB_TOKEN": repo.env()["GITLAB_TOKEN"]}
    url = f"{forge.url}/gitlab/group/demo"
    result = cli("gc", "--state", str(tmp_path / "reg"), "--driver", "gitlab", "--repo", url,
                 cwd=tmp_path, env=env)  # fmt: skip
    assert result.returncode != 0
    assert "no GitLab project or group 'gitlab/group/demo'" in result.stderr
    assert f"set CI_SERVER_URL to it ({forge.url}/gitlab)" in result.stderr
