"""``pr create --merge/--squash/--rebase`` beyond the first, plain run: a re-run on the PR a
refusal left open, a base branch without protection, GitLab servers older than ``auto_merge``,
and the refusals that come once the PR exists (one line, the PR stays open, what to do)."""

from __future__ import annotations

import json

import pytest

from tests.forges.test_auto_merge import _checkout


def _calls(repo) -> list[str]:
    return [f"{c.method} {c.path}" for c in repo.server.api_calls(repo.forge)]


def test_a_rerun_after_the_refusal_sets_the_open_pr_to_merge(cli, forge_repo, tmp_path) -> None:
    """The refusal says: allow auto-merge and re-run. The re-run reuses the open PR and sets
    it to auto-merge (the head it has, as the guard), instead of doing nothing."""
    repo = forge_repo("github")  # auto-merge not allowed yet
    work = _checkout(tmp_path)
    args = ("--json", "pr", "create", "metrics.json", "--branch", "b", "--rebase")
    assert cli(*args, cwd=work, env=repo.env()).returncode == 1
    [pr] = repo.state.pulls.values()
    assert pr.merge_method == ""
    repo.state.allow_auto_merge = True  # what the error said to do
    again = cli(*args, cwd=work, env=repo.env())
    assert again.returncode == 0, again.stderr
    assert [pr] == list(repo.state.pulls.values())  # the same PR, reused
    assert pr.merge_method == "auto-rebase" and not pr.merged
    assert "PR #1 was already open: auto-merge enabled (rebase): merges when required" in (
        again.stderr
    )
    out = json.loads(again.stdout)
    assert (out["merge"], out["reused"]) == ("auto-merge-enabled", True)


def test_a_reused_pr_with_nothing_to_wait_for_is_merged(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    work = _checkout(tmp_path)
    assert (
        cli("pr", "create", "metrics.json", "--branch", "b", cwd=work, env=repo.env()).returncode
        == 0
    )
    [pr] = repo.state.pulls.values()
    repo.state.allow_auto_merge, pr.merge_state = True, "clean"  # its checks have passed
    again = cli(
        "pr", "create", "metrics.json", "--branch", "b", "--merge", cwd=work, env=repo.env()
    )
    assert again.returncode == 0, again.stderr
    assert pr.merged and pr.merge_method == "merge"
    assert "PR #1 was already open: merged (merge)" in again.stderr


def test_gitlab_sets_a_reused_mr_to_merge_once(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("gitlab")
    work = _checkout(tmp_path)
    args = ("pr", "create", "metrics.json", "--branch", "b")
    assert cli(*args, cwd=work, env=repo.env()).returncode == 0
    [mr] = repo.state.pulls.values()
    again = cli(*args, "--squash", cwd=work, env=repo.env())
    assert again.returncode == 0, again.stderr
    assert mr.merge_method == "auto-squash" and not mr.merged
    assert "PR #1 was already open: auto-merge enabled (squash): merges when the pipeline" in (
        again.stderr
    )
    merges = [c for c in _calls(repo) if c.endswith("/merge")]
    third = cli(*args, "--squash", cwd=work, env=repo.env())
    assert third.returncode == 0, third.stderr
    assert "already set to auto-merge (squash): left as it is" in third.stderr
    assert [c for c in _calls(repo) if c.endswith("/merge")] == merges  # no second merge call


def test_an_unprotected_base_is_merged_directly(cli, forge_repo, tmp_path) -> None:
    """GitHub refuses auto-merge on a base without protection rules: no required check will
    ever run, so there is nothing to wait for — merged now, the head we wrote as the guard."""
    repo = forge_repo("github")
    repo.state.allow_auto_merge, repo.state.protected = True, set()
    args = ("--json", "pr", "create", "metrics.json", "--branch", "b", "--squash")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 0, result.stderr
    [pr] = repo.state.pulls.values()
    assert pr.merged and pr.merge_method == "squash"
    assert "merged (squash, no required checks on main)" in result.stderr
    out = json.loads(result.stdout)
    assert (out["merge"], out["merge_note"]) == ("merged", "no required checks on main")
    calls = _calls(repo)
    assert calls.index("POST /graphql") < calls.index(
        f"PUT /repos/octo/demo/pulls/{pr.number}/merge"
    )


def test_a_direct_merge_never_merges_a_moved_head(forge_repo) -> None:
    """The REST merge carries the head we wrote (``sha``): GitHub answers 409 if it moved."""
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges.github_automerge import merge_now
    from tests.fixtures.forge import fake_sha

    repo = forge_repo("github")
    repo.state.protected = set()
    pr = repo.add_pr(head_sha=fake_sha("pushed later"))
    driver = repo.driver()
    pull = {"number": pr.number, "html_url": "https://github.test/octo/demo/pull/1"}
    with pytest.raises(CmlinfraError) as caught:
        merge_now(
            driver.http, repo_path=driver.repo, pull=pull, method="merge", head_sha=repo.commit
        )
    line = caught.value.line()
    assert "HTTP 409: Head branch was modified" in line and f"PR #{pr.number} stays open" in line
    assert "review the new commits" in line
    assert not pr.merged


@pytest.mark.parametrize("knows_auto_merge", [True, False])
def test_gitlab_waits_for_the_pipeline_on_old_servers_too(
    cli, forge_repo, tmp_path, knows_auto_merge
) -> None:
    """GitLab before 17.11 ignores ``auto_merge`` and would merge untested code at once;
    ``merge_when_pipeline_succeeds`` makes it wait there too."""
    repo = forge_repo("gitlab")
    repo.state.knows_auto_merge = knows_auto_merge
    args = ("--json", "pr", "create", "metrics.json", "--branch", "b", "--merge")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 0, result.stderr
    [mr] = repo.state.pulls.values()
    assert mr.merge_method == "auto-merge" and not mr.merged
    assert json.loads(result.stdout)["merge"] == "auto-merge-enabled"


def test_gitlab_says_merged_when_it_merged(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("gitlab")
    repo.state.merge_state = "clean"  # no pipeline to wait for: GitLab merges at once
    args = ("pr", "create", "metrics.json", "--branch", "b", "--squash")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 0, result.stderr
    [mr] = repo.state.pulls.values()
    assert mr.merged and "merged (squash)" in result.stderr


@pytest.mark.parametrize(
    ("kind", "setup", "status", "message", "fix"),
    [
        ("github", "clean", 405, 'Required status check "build" is expected.', "by hand"),
        ("github", "clean", 409, "Head branch was modified.", "review the new commits"),
        ("gitlab", "", 405, "405 Method Not Allowed", "merge the MR by hand"),
        ("gitlab", "", 422, "Branch cannot be merged", "merge the MR by hand"),
        ("bitbucket", "", 400, "You can't merge until you resolve all merge checks.", "by hand"),
    ],
)
def test_a_merge_refused_after_the_pr_exists_says_it_stays_open(
    cli, forge_repo, tmp_path, kind, setup, status, message, fix
) -> None:
    repo = forge_repo(kind)
    repo.state.allow_auto_merge = True
    if setup:
        repo.state.merge_state = setup  # GitHub: nothing to wait for, so a direct merge
    method = "POST" if kind == "bitbucket" else "PUT"
    repo.server.fail(kind, method, r"/merge$", status, message)
    args = ("pr", "create", "metrics.json", "--branch", "b", "--squash")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    label = "MR !1" if kind == "gitlab" else "PR #1"
    assert f"refused to merge {label} (HTTP {status}: {message})" in line
    assert f"{label} stays open, not merged and not set to merge" in line
    assert fix in line and ("drop --squash" in line) == (status != 409)
    [pr] = repo.state.pulls.values()
    assert pr.state == "open" and not pr.merged
    assert repo.server.token not in result.stderr


def test_graphql_403_names_the_workflow_permissions(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.server.fail("github", "POST", r"/graphql$", 403, "Resource not accessible by integration")
    args = ("pr", "create", "metrics.json", "--branch", "b", "--merge")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "add `permissions: contents: write, pull-requests: write`" in line
    assert "the permission this call needs" not in line
    assert "PR #1 stays open, not merged and not set to merge" in line
