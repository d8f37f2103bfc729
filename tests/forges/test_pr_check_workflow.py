"""``pr create``, ``check create``, ``workflow rerun``, ``asset publish`` (``ci``: test_ci_git;
Bitbucket's ``workflow rerun``: test_bitbucket_rerun)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

FORGES = ["github", "gitlab", "bitbucket"]


def _checkout(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "models").mkdir()
    (work / "models" / "metrics.json").write_text('{"acc": 0.9}\n')
    (work / "README.md").write_text("# changed\n")
    return work


@pytest.mark.parametrize("kind", FORGES)
def test_pr_create_commits_files_and_opens_a_pr(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    repo.state.allow_auto_merge = True
    work = _checkout(tmp_path)
    merge = ["--squash"] if kind == "github" else []
    args = ["pr", "create", "models/metrics.json", "README.md", "--branch", "cml-update", *merge]
    result = cli(*args, cwd=work, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert "cml-update" in repo.state.git.refs.__repr__()
    files = repo.state.git.files("heads/cml-update")
    assert files["models/metrics.json"] == b'{"acc": 0.9}\n'
    assert files["README.md"] == b"# changed\n"
    assert repo.state.git.files("heads/main")["README.md"] == b"# demo\n"  # base untouched
    [pr] = repo.state.pulls.values()
    assert (pr.head_branch, pr.base) == ("cml-update", "main")
    assert result.stdout.strip().startswith("https://")
    if merge:
        assert pr.merge_method == "auto-squash" and not pr.merged
        return
    again = cli(*args, cwd=work, env=repo.env())  # rerun: the open PR is reused
    assert again.returncode == 0, again.stderr
    assert len(repo.state.pulls) == 1


def test_pr_create_with_conflicting_merge_flags(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    work = _checkout(tmp_path)
    result = cli("pr", "create", "README.md", "--merge", "--squash", cwd=work, env=repo.env())
    assert result.returncode == 2 and "exclude each other" in result.stderr
    assert repo.state.pulls == {}


def test_check_create_posts_a_completed_check_with_a_cut_summary(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    report = tmp_path / "report.md"
    report.write_text(
        "# Report\n\n" + "\n".join(f"## S{i}\n\n" + "x" * 9000 + "\n" for i in range(9))
    )
    args = ("check", "create", str(report), "--title", "Training", "--conclusion", "failure")
    result = cli(*args, cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    [run] = repo.state.check_runs
    assert run["head_sha"] == repo.commit and run["conclusion"] == "failure"
    assert run["status"] == "completed" and run["name"] == "Training"
    summary = run["output"]["summary"]  # type: ignore[index]
    assert len(summary) <= 65_535 and "This report was truncated" in summary


def test_check_create_rejects_an_unknown_conclusion(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    (tmp_path / "r.md").write_text("x")
    result = cli("check", "create", str(tmp_path / "r.md"), "--conclusion", "great", env=repo.env())
    assert result.returncode == 2 and "--conclusion" in result.stderr
    assert repo.state.check_runs == []


def test_check_create_refuses_a_report_that_is_not_utf8(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    (tmp_path / "r.md").write_bytes(b"# ok\n\xff\xfe\n")
    result = cli("check", "create", "r.md", cwd=tmp_path, env=repo.env())
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "cmlinfra: error: r.md is not UTF-8 (byte 0xff on line 2); save it as UTF-8 "
        "(e.g. iconv -f latin1 -t utf-8)"
    ]
    assert repo.state.check_runs == []


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_workflow_rerun_defaults_to_this_run(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    result = cli("workflow", "rerun", cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert repo.state.reruns == ["4242"]


@pytest.mark.parametrize("kind", FORGES)
def test_asset_publish_md(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    image = tmp_path / "plot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    result = cli("asset", "publish", str(image), "--md", "--title", "Loss", env=repo.env())
    assert result.returncode == 0, result.stderr
    # CML's form: the title is the image's title, the alt text stays empty
    assert result.stdout.startswith("![](https://") and "plot.png" in result.stdout
    assert result.stdout.rstrip().endswith('"Loss")')
    assert list(repo.state.uploads.values()) == [b"\x89PNG\r\n\x1a\nfake"]


def test_github_assets_live_on_an_orphan_branch(forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    image = tmp_path / "plot.png"
    image.write_bytes(b"png")
    forge = repo.driver()
    first = forge.upload_asset(image, "image/png")
    assert forge.upload_asset(image, "image/png") == first  # same content: same URL, no error
    git = repo.state.git
    tip = git.commits[git.refs["heads/cmlinfra-assets"]]
    root = tip
    while root["parents"]:
        root = git.commits[root["parents"][0]]  # type: ignore[index]
    assert root["parents"] == [] and git.refs["heads/main"] not in str(tip)
    assert first.endswith("?raw=true") and "/blob/cmlinfra-assets/" in first


def test_gitlab_auto_merge_and_its_limits(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("gitlab")
    work = _checkout(tmp_path)
    result = cli("pr", "create", "README.md", "--branch", "b", "--squash", cwd=work, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert [p.merge_method for p in repo.state.pulls.values()] == ["auto-squash"]
    result = cli("pr", "create", "README.md", "--branch", "c", "--rebase", cwd=work, env=repo.env())
    assert result.returncode == 1 and "--rebase is not supported on GitLab" in result.stderr
