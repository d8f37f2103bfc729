"""``comment create/update`` with CML's semantics, through the real CLI against the fake forge:
CML's own watermark found by ``update``, its hidden options, its targets, and the publishing
mode that needs no write access to the repository's contents."""

from __future__ import annotations

from pathlib import Path

import pytest

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _report(tmp_path: Path, text: str = "# Report\n\nloss 0.1\n") -> Path:
    path = tmp_path / "report.md"
    path.write_text(text)
    return path


def _cml_comment(repo, pull, title: str = "") -> int:  # type: ignore[no-untyped-def]
    """A comment as CML 0.20 posts it: the report, then its watermark image."""
    from tests.forge_server.state import StoredComment

    mark = f"CML watermark {title}".strip().replace("_", "\\_")
    body = f'old report\n\n![](https://cml.dev/watermark.png#{repo.commit} "{mark}")'
    number = repo.server.state.next_id()
    repo.state.comments[number] = StoredComment(number, ("pr", str(pull.number)), body)
    return number


@pytest.mark.parametrize("kind", ["github", "gitlab", "bitbucket"])
def test_update_edits_the_comment_cml_itself_posted(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    pull = repo.add_pr()
    other = _cml_comment(repo, pull, "other_report")  # another report's: left alone
    mine = _cml_comment(repo, pull, "train_report")
    args = ["comment", "update", "--watermark-title", "train_report", str(_report(tmp_path))]
    result = cli(*args, cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    comments = repo.state.comments
    assert len(comments) == 2  # no duplicate on the first run after migrating
    assert "loss 0.1" in comments[mine].body and comments[mine].updates == 1
    assert comments[other].body.startswith("old report")
    again = cli(*args, cwd=tmp_path, env=repo.env())  # now found by cmlinfra's own marker
    assert again.returncode == 0 and len(repo.state.comments) == 2


def test_cml_hidden_options(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    pull = repo.add_pr()
    report = str(_report(tmp_path))
    run = lambda *a: cli("comment", "create", *a, report, cwd=tmp_path, env=repo.env())  # noqa: E731
    plain = run("--rm-watermark", "--publish-url", "https://asset.cml.dev")
    assert plain.returncode == 0, plain.stderr
    assert "--publish-url https://asset.cml.dev ignored" in plain.stderr
    [comment] = repo.comments()
    assert "watermark" not in comment.body
    refused = run("--update", "--rm-watermark")
    assert refused.returncode == 2 and "--rm-watermark leaves nothing to find" in refused.stderr
    assert run("--update").returncode == run("--update").returncode == 0
    assert len(repo.comments()) == 2  # --update on create: one more, then updated in place
    conflict = run("--target", "pr", "--pr")
    assert conflict.returncode == 2 and "exclude each other" in conflict.stderr
    by_pr = run("--pr")
    assert by_pr.returncode == 0 and "use --target=pr instead of --pr" in by_pr.stderr
    assert {c.target for c in repo.comments()} == {("pr", str(pull.number))}


def test_targets_in_any_case_and_auto(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    pull = repo.add_pr()
    report = str(_report(tmp_path))
    for target in ("auto", "PR", f"Pr/{pull.number}", "COMMIT"):
        result = cli("comment", "create", "--target", target, report, env=repo.env())
        assert result.returncode == 0, (target, result.stderr)
    kinds = [c.target[0] for c in sorted(repo.comments(), key=lambda c: c.id)]
    assert kinds == ["pr", "pr", "pr", "commit"]


def test_commit_sha_head_is_resolved_and_means_the_commit(cli, forge_repo, tmp_path) -> None:
    import subprocess

    repo = forge_repo("github")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=a", "-c", "user.email=a@b",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)  # fmt: skip
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    result = cli("comment", "create", "--head-sha", "HEAD", str(_report(tmp_path)),
                 cwd=tmp_path, env=repo.env())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert [c.target for c in repo.comments()] == [("commit", head)]
    bad = cli("check", "create", "--commit-sha", "no-such-rev", str(_report(tmp_path)),
              cwd=tmp_path, env=repo.env())  # fmt: skip
    assert bad.returncode == 2 and "is not a commit of this checkout" in bad.stderr


def test_assets_run_needs_no_write_access_to_contents(cli, forge_repo, tmp_path) -> None:
    """``--assets run``: nothing is uploaded (no contents API call at all); images and linked
    files point at the run's page, where the workflow keeps them as artifacts."""
    repo = forge_repo("github")
    repo.add_pr()
    (tmp_path / "plot.png").write_bytes(PNG)
    (tmp_path / "data.csv").write_text("a\n")
    report = _report(
        tmp_path, "# R\n\n![loss](plot.png)\n\n[data](data.csv) ![w](https://x/y.png)\n"
    )
    result = cli("comment", "create", "--assets", "run", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    run = "https://github.test/octo/demo/actions/runs/4242#artifacts"
    body = repo.comments()[0].body
    assert f"[loss (plot.png)]({run})" in body and f"[data]({run})" in body
    assert "![w](https://x/y.png)" in body and repo.state.uploads == {}
    assert not [
        c for c in repo.server.api_calls("github") if "/contents/" in c.path or "/git/" in c.path
    ]


def test_check_create_status_as_cml(cli, forge_repo, tmp_path) -> None:
    """CML's ``check create --status``: a check that is not completed goes without a conclusion
    (GitHub would otherwise mark it completed); ``--head-sha`` is CML's alias."""
    repo = forge_repo("github")
    report = str(_report(tmp_path))
    running = cli("check", "create", "--status", "in_progress", "--head-sha", repo.commit, report,
                  env=repo.env())  # fmt: skip
    assert running.returncode == 0, running.stderr
    done = cli("send-github-check", "--conclusion", "failure", report, env=repo.env())
    assert done.returncode == 0, done.stderr
    first, second = repo.state.check_runs
    assert (first["status"], first.get("conclusion")) == ("in_progress", None)
    assert (second["status"], second["conclusion"]) == ("completed", "failure")
    bad = cli("check", "create", "--status", "paused", report, env=repo.env())
    assert bad.returncode == 2 and "--status 'paused' is not one of" in bad.stderr
