"""``cmlinfra stack plan --comment``: a real terraform plan posted to the fake forge (OpenAPI
validated) through the real CLI, as a CI step runs it. The ssh cloud needs no provider and no
LXD, so these run everywhere; the LXD case (real counts) is in test_lxd_stack.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stack.test_ssh_stack import HOST_KEY

ARGS = ["--cloud", "ssh", "--host", "192.0.2.20", "--host-key", HOST_KEY]


def _plan(cli, terraform, name: str, env: dict[str, str], *extra: str):
    args = ["--name", name, *ARGS, "--terraform", str(terraform.path)]
    return cli("--json", "stack", "plan", *args, "--comment", *extra, env=env)


def test_one_comment_after_two_runs(cli, forge_repo, cmlinfra_home: Path, terraform_latest) -> None:
    repo = forge_repo("github")
    pr = repo.add_pr()
    first = _plan(cli, terraform_latest, "cmlt-review", repo.env())
    assert first.returncode == 0, first.stderr
    posted = json.loads(first.stdout)["comment"]
    assert posted["target"] == f"pr #{pr.number}" and posted["updated"] is False

    again = _plan(cli, terraform_latest, "cmlt-review", repo.env())
    assert again.returncode == 0, again.stderr
    updated = json.loads(again.stdout)["comment"]
    assert updated["id"] == posted["id"] and updated["updated"] is True

    [comment] = repo.comments("pr", str(pr.number))
    body = comment.body
    assert body.startswith("## Terraform plan for `cmlt-review`: no changes")
    assert "**Estimated cost:** unknown (an existing machine" in body
    assert "<summary>Full plan</summary>" in body
    assert "<!-- cmlinfra:watermark cmlinfra plan cmlt-review -->" in body
    assert repo.server.token not in first.stdout + first.stderr + again.stdout + again.stderr

    # another stack's plan is another comment: the default watermark names the stack
    other = _plan(cli, terraform_latest, "cmlt-review-2", repo.env())
    assert other.returncode == 0, other.stderr
    assert len(repo.comments("pr", str(pr.number))) == 2


def test_without_a_pr_the_commit_gets_it(
    cli, forge_repo, cmlinfra_home: Path, terraform_latest
) -> None:
    repo = forge_repo("gitlab")
    result = _plan(cli, terraform_latest, "cmlt-review-c", repo.env(), "--watermark-title", "t")
    assert result.returncode == 0, result.stderr
    [comment] = repo.comments("commit", repo.commit)
    assert comment.body.rstrip().endswith("<!-- cmlinfra:watermark t -->")


def _one_line(result, code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_bad_token_posts_nothing_and_plans_nothing(
    cli, forge_repo, cmlinfra_home: Path, terraform_latest
) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    result = _plan(cli, terraform_latest, "cmlt-badtoken", repo.env(REPO_TOKEN="wrong-tok-987"))
    line = _one_line(result, 1)
    assert "the token was rejected" in line and "REPO_TOKEN" in line
    assert "wrong-tok-987" not in result.stderr
    assert repo.comments() == []
    assert not (cmlinfra_home / "stacks" / "cmlt-badtoken").exists()


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        ({}, ["cannot tell which forge", "REPO_TOKEN", "--driver", "--repo"]),
        ({"GITHUB_REPOSITORY": "octo/demo"}, ["no github token found", "REPO_TOKEN or GITHUB"]),
    ],
    ids=["no-ci", "no-token"],
)
def test_no_forge_context_names_what_to_set(
    cli, cmlinfra_home: Path, terraform_latest, tmp_path: Path, env, needles
) -> None:
    result = _plan(cli, terraform_latest, "cmlt-noforge", {**env, "GIT_DIR": str(tmp_path)})
    line = _one_line(result, 2 if not env else 1)
    assert all(needle in line for needle in needles), line
    assert not (cmlinfra_home / "stacks").exists()


def test_plan_without_comment_needs_no_forge(cli, cmlinfra_home: Path, terraform_latest) -> None:
    args = ["--name", "cmlt-nocomment", *ARGS, "--terraform", str(terraform_latest.path)]
    result = cli("stack", "plan", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete.",
        "estimated cost: unknown",
    ]


@pytest.mark.lxd
def test_lxd_plan_comment_has_the_counts_and_the_cost(
    lxd, cli, forge_repo, cmlinfra_home: Path
) -> None:
    """A plan that creates a container (plans it only: nothing is created), on Bitbucket's
    commit comments."""
    repo = forge_repo("bitbucket")
    name = lxd.name("review")
    result = cli("stack", "plan", "--name", name, "--comment", env=repo.env())
    assert result.returncode == 0, result.stderr
    [comment] = repo.comments("commit", repo.commit)
    body = comment.body
    assert body.startswith(
        f"## Terraform plan for `{name}`: 2 to create, 0 to update, 0 to replace, 0 to delete"
    )
    assert "**Estimated cost:** $0.000 per hour, $0.00 per day (a container on the local" in body
    assert "### Create (2)\n\n- `module.runner.lxd_container.this`" in body
    assert "- `module.runner.lxd_container_file.authorized_keys`" in body
    assert "CAUTION" not in body
    assert '\n+   resource "lxd_container" "this" {' in body  # diff-highlighted
    private = (cmlinfra_home / "stacks" / name / "id_ed25519").read_text()
    assert private.strip().splitlines()[1] not in body
    assert not lxd.exists(name)
