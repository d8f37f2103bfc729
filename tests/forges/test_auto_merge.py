"""``pr create --merge/--squash/--rebase``: GitHub auto-merge over GraphQL (validated against
GitHub's schema by the fake server), the direct-merge fallback, and the refusals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from cmlinfra.errors import CmlinfraError

METHODS = ["merge", "squash", "rebase"]
PR_STATE = """query($id: ID!) { node(id: $id) { ... on PullRequest {
  number state mergeStateStatus autoMergeRequest { mergeMethod } } } }"""


def _checkout(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "metrics.json").write_text('{"acc": 0.9}\n')
    return work


def _graphql(forge, query: str, variables: dict, path: str = "/graphql") -> dict:
    response = requests.post(
        forge.url + path,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {forge.token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _paths(repo) -> list[str]:
    return [f"{c.method} {c.path}" for c in repo.server.api_calls("github")]


@pytest.mark.parametrize("method", METHODS)
def test_github_sets_the_pr_to_merge_when_checks_pass(cli, forge_repo, tmp_path, method) -> None:
    repo = forge_repo("github")
    repo.state.allow_auto_merge = True  # the repository allows auto-merge; checks are pending
    args = ("--json", "pr", "create", "metrics.json", "--branch", "b", f"--{method}")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 0, result.stderr
    [pr] = repo.state.pulls.values()
    assert pr.merge_method == f"auto-{method}" and not pr.merged  # waiting, not merged
    out = json.loads(result.stdout)
    assert (out["merge"], out["merge_method"], out["number"]) == (
        "auto-merge-enabled",
        method,
        pr.number,
    )
    assert f"auto-merge enabled ({method}): merges when required checks pass" in result.stderr
    calls = _paths(repo)
    assert "POST /graphql" in calls and not any(c.endswith("/merge") for c in calls)
    token = repo.server.token
    assert token not in result.stdout + result.stderr
    # what GitHub now reports for the PR, asked through the same validated endpoint
    node = _graphql(repo.server, PR_STATE, {"id": out_node_id(repo, pr)})["data"]["node"]
    assert node["autoMergeRequest"] == {"mergeMethod": method.upper()}
    assert (node["state"], node["mergeStateStatus"]) == ("OPEN", "BLOCKED")


def out_node_id(repo, pr) -> str:
    from tests.forge_server.github_graphql import node_id

    return node_id(repo.state, pr)


def test_a_pr_with_nothing_pending_is_merged_at_once(cli, forge_repo, tmp_path) -> None:
    """GitHub refuses auto-merge on a "clean" PR (nothing to wait for): merged directly."""
    repo = forge_repo("github")
    repo.state.allow_auto_merge, repo.state.merge_state = True, "clean"
    args = ("pr", "create", "metrics.json", "--branch", "b", "--squash")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 0, result.stderr
    [pr] = repo.state.pulls.values()
    assert pr.merged and pr.merge_method == "squash"
    assert result.stdout.strip() == f"https://github.test/octo/demo/pull/{pr.number}"
    assert "merged (squash)" in result.stderr and "auto-merge enabled" not in result.stderr
    calls = _paths(repo)
    merge = f"PUT /repos/octo/demo/pulls/{pr.number}/merge"
    assert calls.index("POST /graphql") < calls.index(merge)


def test_a_repository_without_auto_merge_is_one_line_and_the_pr_stays_open(
    cli, forge_repo, tmp_path
) -> None:
    repo = forge_repo("github")  # allow_auto_merge is off, as on GitHub by default
    args = ("pr", "create", "metrics.json", "--branch", "b", "--rebase")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "Auto merge is not allowed for this repository" in line
    assert '"Allow auto-merge" in the repository settings' in line and "drop --rebase" in line
    [pr] = repo.state.pulls.values()  # opened, left open, not set to merge: the error says so
    assert pr.state == "open" and not pr.merged and pr.merge_method == ""
    assert f"PR #{pr.number} stays open, not merged and not set to merge" in line
    assert not any(c.endswith("/merge") for c in _paths(repo))
    assert repo.server.token not in result.stdout + result.stderr


def test_enterprise_server_uses_api_graphql(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.state.allow_auto_merge = True
    env = repo.env(GITHUB_SERVER_URL="https://ghe.test", GITHUB_API_URL=repo.server.url + "/api/v3")
    result = cli("pr", "create", "metrics.json", "--merge", cwd=_checkout(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    calls = _paths(repo)
    assert "POST /api/graphql" in calls and "POST /graphql" not in calls
    assert all(c.split()[1].startswith("/api/") for c in calls)
    [pr] = repo.state.pulls.values()
    assert pr.merge_method == "auto-merge"


def test_a_transient_graphql_failure_is_retried(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.state.allow_auto_merge = True
    repo.server.fail("github", "POST", r"^/graphql$", 502)
    result = cli(
        "pr", "create", "metrics.json", "--squash", cwd=_checkout(tmp_path), env=repo.env()
    )
    assert result.returncode == 0, result.stderr
    assert [c.status for c in repo.server.api_calls("github") if c.path == "/graphql"] == [502, 200]


def test_a_moved_head_is_never_merged(forge_repo) -> None:
    """expectedHeadOid: a push between opening the PR and enabling auto-merge is refused."""
    from cmlinfra.forges.github_automerge import merge_when_ready
    from tests.fixtures.forge import fake_sha

    repo = forge_repo("github")
    repo.state.allow_auto_merge = True
    pr = repo.add_pr(head_sha=fake_sha("pushed later"))
    driver = repo.driver()
    pull = {"number": pr.number, "node_id": out_node_id(repo, pr)}
    with pytest.raises(CmlinfraError, match="Head branch was modified") as caught:
        merge_when_ready(
            driver.http, repo_path=driver.repo, pull=pull, method="squash", head_sha=repo.commit
        )
    assert "drop --squash" in caught.value.line()
    assert pr.merge_method == "" and not pr.merged


@pytest.mark.parametrize(
    ("query", "variables", "problem"),
    [
        (  # a misspelled field
            "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id}) "
            "{ pullRequest { numbr } } }",
            {"id": "PR_x"},
            "Cannot query field 'numbr' on type 'PullRequest'",
        ),
        (  # a merge method GitHub does not have
            "mutation($id: ID!, $m: PullRequestMergeMethod!) { enablePullRequestAutoMerge("
            "input: {pullRequestId: $id, mergeMethod: $m}) { clientMutationId } }",
            {"id": "PR_x", "m": "FAST_FORWARD"},
            "invalid variables",
        ),
        (  # a head commit that is not an object id
            "mutation($id: ID!, $oid: GitObjectID) { enablePullRequestAutoMerge("
            "input: {pullRequestId: $id, expectedHeadOid: $oid}) { clientMutationId } }",
            {"id": "PR_x", "oid": "main"},
            "not a valid GitObjectID",
        ),
        (  # a field this schema subset does not carry is refused too (add it to the subset)
            "query($id: ID!) { node(id: $id) { ... on PullRequest { title } } }",
            {"id": "PR_x"},
            "Cannot query field 'title'",
        ),
    ],
)
def test_the_server_rejects_queries_outside_githubs_schema(forge, query, variables, problem):
    body = _graphql(forge, query, variables)
    assert body["errors"] and "data" not in body
    violations = forge.take_violations()  # taken: this test wants them
    assert len(violations) == 1 and problem in violations[0], violations
    assert violations[0].startswith("github POST /graphql: ")


def test_the_server_rejects_graphql_without_a_valid_token(forge) -> None:
    response = requests.post(forge.url + "/graphql", json={"query": "{ __typename }"}, timeout=10)
    assert response.status_code == 401 and response.json()["message"] == "Bad credentials"


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("gitlab", "auto-merge enabled (squash): merges when the pipeline succeeds"),
        ("bitbucket", "merged (squash)"),  # Bitbucket Cloud has no auto-merge API
    ],
)
def test_other_forges_say_what_happened(cli, forge_repo, tmp_path, kind, line) -> None:
    repo = forge_repo(kind)
    args = ("--json", "pr", "create", "metrics.json", "--branch", "b", "--squash")
    result = cli(*args, cwd=_checkout(tmp_path), env=repo.env())
    assert result.returncode == 0, result.stderr
    assert line in result.stderr
    out = json.loads(result.stdout)
    assert out["merge"] == ("merged" if kind == "bitbucket" else "auto-merge-enabled")


def test_the_driver_mutation_is_valid_against_githubs_schema() -> None:
    """Checked in-process too, so a schema regeneration that drops a field fails here first."""
    from graphql import parse, validate

    from cmlinfra.forges.github_automerge import ENABLE_AUTO_MERGE
    from tests.forge_server.github_graphql import load_schema

    assert validate(load_schema(), parse(ENABLE_AUTO_MERGE)) == []


@pytest.mark.parametrize(
    ("api", "endpoint"),
    [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
        ("https://api.acme.ghe.com", "https://api.acme.ghe.com/graphql"),
    ],
)
def test_graphql_endpoint_next_to_the_rest_api(api: str, endpoint: str) -> None:
    from cmlinfra.forges.github_automerge import graphql_url

    assert graphql_url(api) == endpoint


def test_a_reused_pr_already_set_to_merge_is_left_as_it_is(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.state.allow_auto_merge = True
    work = _checkout(tmp_path)
    args = ("--json", "pr", "create", "metrics.json", "--branch", "b", "--squash")
    assert cli(*args, cwd=work, env=repo.env()).returncode == 0
    graphql_calls = len([c for c in repo.server.api_calls("github") if c.path == "/graphql"])
    again = cli(*args[:-1], "--merge", cwd=work, env=repo.env())  # another method: kept as set
    assert again.returncode == 0, again.stderr
    assert "PR #1 was already open: already set to auto-merge (squash): left as it is" in (
        again.stderr
    )
    out = json.loads(again.stdout)
    assert (out["merge"], out["merge_method"], out["reused"]) == (
        "auto-merge-enabled",
        "squash",
        True,
    )
    assert len([c for c in repo.server.api_calls("github") if c.path == "/graphql"]) == (
        graphql_calls
    )
    [pr] = repo.state.pulls.values()
    assert pr.merge_method == "auto-squash" and not pr.merged
