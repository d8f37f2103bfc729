"""``comment create`` / ``comment update`` against the fake forges, through the real CLI."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cli import cli_env
from tests.fixtures.sshd import wait_until

FORGES = ["github", "gitlab", "bitbucket"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _report(tmp_path: Path, text: str = "# Report\n\naccuracy 0.9\n") -> Path:
    path = tmp_path / "report.md"
    path.write_text(text)
    return path


@pytest.mark.parametrize("kind", FORGES)
def test_update_in_place_over_three_runs(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    pr = repo.add_pr()
    report = _report(tmp_path)
    for run in range(3):
        report.write_text(f"# Report\n\nrun {run}\n")
        result = cli("comment", "update", str(report), cwd=tmp_path, env=repo.env())
        assert result.returncode == 0, result.stderr
    comments = repo.comments("pr", str(pr.number))
    assert len(comments) == 1
    assert "run 2" in comments[0].body and "run 0" not in comments[0].body
    assert comments[0].updates == 2
    assert "<!-- cmlinfra:watermark -->" in comments[0].body


def test_an_unchanged_report_is_not_written_again(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path)
    for _ in range(2):
        assert cli("comment", "update", str(report), cwd=tmp_path, env=repo.env()).returncode == 0
    writes = [c for c in repo.server.api_calls() if c.method in ("POST", "PATCH")]
    assert len(writes) == 1 and repo.comments()[0].updates == 0


def test_create_posts_a_new_comment_each_time(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path)
    for _ in range(2):
        assert cli("comment", "create", str(report), cwd=tmp_path, env=repo.env()).returncode == 0
    assert len(repo.comments("pr")) == 2


def test_watermark_titles_keep_reports_apart(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path)
    for title in ("train", "eval", "train"):
        args = ("comment", "update", str(report), "--watermark-title", title)
        assert cli(*args, cwd=tmp_path, env=repo.env()).returncode == 0
    bodies = sorted(c.body.splitlines()[-1] for c in repo.comments("pr"))
    assert bodies == ["<!-- cmlinfra:watermark eval -->", "<!-- cmlinfra:watermark train -->"]


@pytest.mark.parametrize("kind", FORGES)
def test_pr_found_from_the_commit(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    repo.add_pr(head_sha="0" * 40, branch="other")  # another PR, another commit
    pr = repo.add_pr()
    result = cli("comment", "create", str(_report(tmp_path)), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert [c.target for c in repo.comments()] == [("pr", str(pr.number))]


@pytest.mark.parametrize("kind", FORGES)
def test_no_pr_comments_on_the_commit(cli, forge_repo, tmp_path, kind) -> None:
    repo = forge_repo(kind)
    report = _report(tmp_path)
    for _ in range(2):
        result = cli("comment", "update", str(report), cwd=tmp_path, env=repo.env())
        assert result.returncode == 0, result.stderr
    assert [c.target for c in repo.comments()] == [("commit", repo.commit)]


def test_target_pr_without_a_pr_is_a_one_line_error(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    args = ("comment", "create", str(_report(tmp_path)), "--target", "pr")
    result = cli(*args, cwd=tmp_path, env=repo.env())
    assert result.returncode == 2
    assert "no open pull request contains commit" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert repo.comments() == []


def test_issue_target(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("gitlab")
    args = ("comment", "create", str(_report(tmp_path)), "--target", "issue/7")
    assert cli(*args, cwd=tmp_path, env=repo.env()).returncode == 0
    assert [c.target for c in repo.comments()] == [("issue", "7")]


def test_pull_request_event_gives_pr_and_head_sha_without_lookup(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    pr = repo.add_pr(head_sha="a" * 40)
    event = tmp_path / "event.json"
    event.write_text(
        f'{{"pull_request": {{"number": {pr.number}, "head": {{"sha": "{"a" * 40}"}}}}}}'
    )
    env = repo.env(GITHUB_EVENT_PATH=str(event), GITHUB_SHA="b" * 40)  # a merge commit
    assert cli("comment", "update", str(_report(tmp_path)), cwd=tmp_path, env=env).returncode == 0
    assert [c.target for c in repo.comments()] == [("pr", str(pr.number))]
    assert not [c for c in repo.server.api_calls() if "/pulls" in c.path]  # no lookup needed


@pytest.mark.parametrize("kind", FORGES)
def test_publish_uploads_local_images_once_and_rewrites_links(
    cli, forge_repo, tmp_path, kind
) -> None:
    repo = forge_repo(kind)
    repo.add_pr()
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "loss.png").write_bytes(PNG)
    (tmp_path / "cm.png").write_bytes(PNG + b"cm")
    text = (
        '# Report\n\n![loss](plots/loss.png)\n\n![again](plots/loss.png "t")\n\n'
        '<img src="cm.png" width="300">\n\n![remote](https://example.org/x.png)\n'
    )
    result = cli("comment", "create", str(_report(tmp_path, text)), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    body = repo.comments()[0].body
    assert "plots/loss.png" not in body and '"cm.png"' not in body
    assert "https://example.org/x.png" in body
    assert len(repo.state.uploads) == 2  # two distinct files, one referenced twice
    links = re.findall(r"\]\(([^) ]+)", body) + re.findall(r'src="([^"]+)"', body)
    assert all(link.startswith("https://") for link in links)


def test_a_missing_image_is_posted_as_written_with_a_warning(cli, forge_repo, tmp_path) -> None:
    """As CML: a link to a file that is not there stays as written; cmlinfra says so."""
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path, "# Report\n\n![plot](plot.png)\n")
    result = cli("comment", "create", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert "plot.png: no such file, its link is left as written" in result.stderr
    assert "![plot](plot.png)" in repo.comments()[0].body and repo.state.uploads == {}


def test_oversized_report_is_cut_at_a_section_boundary(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    sections = [f"## Epoch {i}\n\n" + ("loss 0.123456789 " * 60 + "\n") * 8 for i in range(12)]
    text = "# Report\n\n" + "\n".join(sections)
    assert len(text) > 65_536
    result = cli("comment", "create", str(_report(tmp_path, text)), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    body = repo.comments()[0].body
    assert len(body) <= 65_536
    assert "This report was truncated" in body
    kept = body.split("\n\n---\n\n> **This report was truncated**")[0]
    assert text.startswith(kept) and text[len(kept) :].strip().startswith("## Epoch")
    assert body.rstrip().endswith("<!-- cmlinfra:watermark -->")


@contextlib.contextmanager
def _watching(repo: Any, report: Path, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``comment create REPORT --watch`` running against ``repo``, its stderr piped; stopped
    at the end of the block."""
    args = ["comment", "create", str(report), "--watch", "--watch-timeout", "30"]
    args += ["--watch-interval", "0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmlinfra", *args],
        env=cli_env(repo.env()),
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(repo.comments, 30, "the first post")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_watch_updates_the_comment_when_the_file_changes(forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path, "# v1\n")
    with _watching(repo, report, tmp_path):
        report.write_text("# v2\n")
        wait_until(lambda: "# v2" in repo.comments()[0].body, 30, "the update")
        assert len(repo.comments()) == 1


@pytest.mark.parametrize("kind", FORGES)
def test_update_finds_its_comment_beyond_the_first_page(cli, forge_repo, tmp_path, kind) -> None:
    from tests.forge_server.state import StoredComment

    repo = forge_repo(kind)
    pr = repo.add_pr()
    state = repo.state
    marked = StoredComment(
        repo.server.state.next_id(), ("pr", str(pr.number)), "old\n\n<!-- cmlinfra:watermark -->"
    )
    state.comments[marked.id] = marked
    for i in range(130):  # newer chatter pushes the report past page 1 (100 per page)
        other = StoredComment(repo.server.state.next_id(), ("pr", str(pr.number)), f"lgtm {i}")
        state.comments[other.id] = other
    result = cli("comment", "update", str(_report(tmp_path)), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert len(repo.comments()) == 131 and marked.updates == 1
    lists = [
        c
        for c in repo.server.api_calls()
        if c.method == "GET" and ("comments" in c.path or "notes" in c.path)
    ]
    assert len(lists) == 2


def test_github_enterprise_api_prefix(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    env = repo.env(GITHUB_API_URL=f"{repo.server.url}/api/v3", GITHUB_SERVER_URL="https://ghe.test")
    result = cli("comment", "update", str(_report(tmp_path)), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert all(c.path.startswith("/api/v3/") for c in repo.server.api_calls())
    assert len(repo.comments()) == 1


@pytest.mark.parametrize("command", ["create", "update"])
def test_a_report_that_is_not_utf8_is_refused_in_one_line(cli, forge_repo, tmp_path, command):
    repo = forge_repo("github")
    repo.add_pr()
    report = tmp_path / "r.md"
    report.write_bytes("# caf\xe9\n".encode("latin-1"))
    for extra in ([], ["--watch", "--watch-timeout", "0"]):
        result = cli("comment", command, str(report), *extra, cwd=tmp_path, env=repo.env())
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"cmlinfra: error: {report} is not UTF-8 (byte 0xe9 on line 1); save it as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ]
    assert repo.comments() == [] and repo.server.api_calls() == []


def test_an_empty_report_is_refused(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path, "\n  \n")
    result = cli("comment", "create", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cmlinfra: error: {report} is empty; write the report before posting it"
    ]
    assert repo.comments() == []


def test_watch_skips_a_version_that_is_not_utf8(forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path, "# v1\n")
    with _watching(repo, report, tmp_path) as proc:
        report.write_bytes(b"# v2 \xff\n")
        assert proc.stderr is not None
        line = ""
        while "not UTF-8" not in line:  # each readline blocks until the watcher says more
            line = proc.stderr.readline()
            assert line, "the watcher ended without a warning"
        assert line.startswith("warning: not posted: ") and "(byte 0xff on line 1)" in line
        report.write_text("# v3\n")
        wait_until(lambda: "# v3" in repo.comments()[0].body, 30, "the next good version")
        assert proc.poll() is None and len(repo.comments()) == 1


def test_one_overlong_line_is_cut_not_dropped(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    report = _report(tmp_path, "# Log\n\n" + "x" * 200_000 + "\n")
    result = cli("comment", "create", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    body = repo.comments()[0].body
    assert len(body) <= 65_536 and body.count("x") > 60_000


@pytest.mark.parametrize("where", ["pr", "commit", "issue/7"])
def test_gitlab_comments_link_to_their_note(cli, forge_repo, tmp_path, where) -> None:
    import json

    from tests.fixtures.forge import WEB

    repo = forge_repo("gitlab")
    pr = repo.add_pr()
    report = _report(tmp_path)
    page = {
        "pr": f"merge_requests/{pr.number}",
        "commit": f"commit/{repo.commit}",
        "issue/7": "issues/7",
    }[where]
    for command in ("create", "update"):
        args = ("--json", "comment", command, str(report), "--target", where)
        report.write_text(f"# Report\n\n{command}\n")  # update writes: the text changed
        result = cli(*args, cwd=tmp_path, env=repo.env())
        assert result.returncode == 0, result.stderr
        [note] = [c for c in repo.comments() if command in c.body]
        url = json.loads(result.stdout)["url"]
        assert url == f"{WEB['gitlab']}/{repo.name}/-/{page}#note_{note.id}"


def test_bitbucket_workflow_title_finds_the_last_runs_comment(cli, forge_repo, tmp_path):
    repo = forge_repo("bitbucket")
    pr = repo.add_pr()
    report = _report(tmp_path)
    for run, uuid in enumerate(("{aaa-1}", "{bbb-2}")):
        report.write_text(f"# Report\n\nrun {run}\n")
        env = repo.env(BITBUCKET_PR_ID=str(pr.number), BITBUCKET_PIPELINE_UUID=uuid)
        args = ("comment", "update", str(report), "--watermark-title", "train {workflow}")
        assert cli(*args, cwd=tmp_path, env=env).returncode == 0
    [comment] = repo.comments()
    assert "run 1" in comment.body and comment.updates == 1


def test_a_built_report_with_section_images_posts_them(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "fig.png").write_bytes(PNG)
    (tmp_path / "notes" / "n.md").write_text("# Notes\n\n![fig](fig.png)\n")
    build = ("report", "build", "--section", "notes/n.md", "--out", "out/report.md")
    assert cli(*build, "--no-step-summary", cwd=tmp_path).returncode == 0
    result = cli("comment", "create", "out/report.md", cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert list(repo.state.uploads.values()) == [PNG]
    assert re.search(r"!\[fig\]\(https://\S+fig\.png\S*\)", repo.comments()[0].body)
