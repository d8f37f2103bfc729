"""``pr create`` as CML's: without paths, the commits already made in the checkout (deletions,
the author and the message kept); paths that match nothing changed: CML's "Nothing to do";
``--user-name/--user-email`` author the commit — on each forge, against the fake forge."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _checkout(root: Path) -> str:
    """A checkout like the CI job's: README.md at the job's commit; returns that commit."""
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "Ada")
    _git(root, "config", "user.email", "ada@example.test")
    (root / "README.md").write_text("# demo\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "start")
    return _git(root, "rev-parse", "HEAD")


def _job_env(repo, sha: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    key = {"github": "GITHUB_SHA", "gitlab": "CI_COMMIT_SHA", "bitbucket": "BITBUCKET_COMMIT"}
    return repo.env(**{key[repo.forge]: sha})


@pytest.mark.parametrize("kind", ["github", "gitlab", "bitbucket"])
def test_no_paths_opens_the_pr_from_the_commits_already_made(
    cli, forge_repo, tmp_path, kind
) -> None:
    repo = forge_repo(kind)
    sha = _checkout(tmp_path)
    (tmp_path / "model.txt").write_text("v2\n")
    (tmp_path / "README.md").unlink()
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-q", "-m", "Retrain the model\n\nOn new data.")
    result = cli("pr", "create", "--md", cwd=tmp_path, env=_job_env(repo, sha))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[CML's " + ("Merge" if kind == "gitlab" else "Pull"))
    [pull] = repo.state.pulls.values()
    assert pull.head_branch == f"main-cml-pr-{sha[:8]}"
    files = repo.state.git.files(f"heads/{pull.head_branch}")
    assert files.get("model.txt") == b"v2\n" and "README.md" not in files
    head = repo.state.git.commits[repo.state.git.refs[f"heads/{pull.head_branch}"]]
    assert head["message"].startswith("Retrain the model")
    assert "[skip ci]" not in head["message"]  # the user's own commits, as CML pushes them
    assert head["author"] == "Ada <ada@example.test>"


def test_nothing_to_do_is_cmls_warning_and_exit_0(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    sha = _checkout(tmp_path)
    clean = cli("pr", "create", ".", cwd=tmp_path, env=_job_env(repo, sha))
    assert clean.returncode == 0 and clean.stdout == ""
    assert "No changed files matched by glob path. Nothing to do." in clean.stderr
    (tmp_path / "out.csv").write_text("x\n")
    other = cli("pr", "create", "*.dvc", cwd=tmp_path, env=_job_env(repo, sha))
    assert other.returncode == 0 and "Input files are not affected. Nothing to do." in other.stderr
    none = cli("pr", "create", cwd=tmp_path, env=_job_env(repo, sha))
    assert none.returncode == 2 and "no commits in this checkout since" in none.stderr
    assert repo.state.pulls == {}


def test_user_name_and_email_author_the_commit(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("gitlab")
    sha = _checkout(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.json").write_text("{}\n")
    args = ["pr", "create", "--user-name", "Olivaw[bot]", "--user-email", "olivaw@example.test"]
    result = cli(*args, "sub", cwd=tmp_path, env=_job_env(repo, sha))
    assert result.returncode == 0, result.stderr
    [pull] = repo.state.pulls.values()
    head = repo.state.git.commits[repo.state.git.refs[f"heads/{pull.head_branch}"]]
    assert head["author"] == "Olivaw[bot] <olivaw@example.test>"
    assert head["message"] == f"CML PR for {sha[:8]} [skip ci]"
