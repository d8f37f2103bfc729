"""Real CML workflow steps (workflows.yaml: CML's README and docs, its own end-to-end tests,
public repositories' workflows — each entry names its source) run as written through the `cml`
executable against the fake forge, which must see what CML would have made it see: the same
comments, uploads, pull requests, checks, reruns and runners.

The runner lines that ask for AWS run against the session's moto server (a real EC2 API): they
must be accepted as written and resolved in the region and type CML would have used, stopping
at the image look-up (moto has no GPU AMI), with nothing registered and nothing left behind.
The on-premise runner lines register this machine with the agent stand-in and stop on SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cli import cli_env
from tests.fixtures.forge import ForgeRepo
from tests.forge_server.state import StoredComment
from tests.runner.conftest import wait_until

HERE = Path(__file__).parent
WORKFLOWS = yaml.safe_load((HERE / "workflows.yaml").read_text())
BIN = Path(sys.executable).parent  # the venv's: `cml` and `cml-*` are its console scripts

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
SAMPLES = {
    "@png": PNG,
    "@jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    "@gif": b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!",
    "@svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
    "@pdf": b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
}


def cml_lines(entry: dict[str, Any]) -> list[str]:
    """The ``cml`` command lines of an entry (continuations joined), for counting."""
    text = entry["run"].replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if re.match(r"\s*cml(-[a-z-]+)?\s", ln)]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SAMPLES.get(content) or content.encode())


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _workspace(tmp_path: Path, entry: dict[str, Any]) -> Path:
    """The job's checkout: a git repository holding ``files``, with ``changed`` written after
    the commit (what the job produced)."""
    root = tmp_path / "checkout"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.test")
    _git(root, "config", "user.name", "dev")
    (root / "README.md").write_text("# demo\n")
    _write(root, entry.get("files", {}))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "checkout")
    _write(root, entry.get("changed", {}))
    return root


def _environment(
    entry: dict[str, Any], repo: ForgeRepo, moto_env: dict[str, str]
) -> dict[str, str]:
    fill = {"token": repo.server.token, "sha": repo.commit, "api": repo.server.url}
    if entry.get("ci", True):
        env = repo.env()
    else:  # a machine outside CI that reaches the forge (the API of gitlab.test is the fake's)
        env = {"CI_SERVER_URL": "https://gitlab.test", "CI_API_V4_URL": f"{repo.server.url}/api/v4"}
    for name in entry.get("unset", []):
        env.pop(name, None)
    env.update({k: str(v).format(**fill) for k, v in entry.get("env", {}).items()})
    env.update(moto_env)
    env["PATH"] = f"{BIN}:{os.environ['PATH']}"
    env["CMLINFRA_AGENT_STANDIN"] = "1"
    return env


def _matches(spec: dict[str, Any], comment: StoredComment) -> bool:
    return (
        comment.target[0] == spec["target"]
        and all(text in comment.body for text in spec.get("contains", []))
        and not any(text in comment.body for text in spec.get("not_contains", []))
        and comment.updates == spec.get("updates", comment.updates)
    )


def _check_comments(repo: ForgeRepo, wanted: list[dict[str, Any]]) -> None:
    """Exactly the comments wanted, in any order (parallel ``--watch`` lines race)."""
    found = list(repo.state.comments.values())
    assert len(found) == len(wanted), [c.body for c in found]
    for spec in wanted:
        assert [c for c in found if _matches(spec, c)], (spec, [c.body for c in found])


def _check_pr(repo: ForgeRepo, spec: dict[str, Any], sha8: str) -> None:
    made = [p for p in repo.state.pulls.values() if p.head_branch != "feature"]
    assert len(made) == 1, made
    pull = made[0]
    git = repo.state.git
    head = git.commits[git.refs[f"heads/{pull.head_branch}"]]
    files = git.files(f"heads/{pull.head_branch}")
    if "branch" in spec:
        assert pull.head_branch == spec["branch"].format(sha8=sha8)
    if "title" in spec:
        assert pull.title == spec["title"].format(sha8=sha8)
    if "message" in spec:
        assert head["message"] == spec["message"].format(sha8=sha8)
    for path, content in spec.get("files", {}).items():
        assert files.get(path) == content.encode(), path
    for path in spec.get("absent", []):
        assert path not in files
    if spec.get("merge") == "auto-merge":
        assert pull.merge_method.startswith("auto-") or pull.merged, pull


def _check(entry: dict[str, Any], repo: ForgeRepo, done: Any, root: Path) -> None:
    expect = entry.get("expect", {})
    sha8 = repo.commit[:8]
    out, err = done.stdout, done.stderr
    if "aws" in expect:  # accepted, resolved where CML would launch, stopped at the image
        assert done.returncode == 2, err
        region, stops = expect["aws"]["region"], expect["aws"]["stops"]
        assert stops in err and f"in {region}" in err, err
        assert repo.runners == [] and repo.state.comments == {}
        return
    assert done.returncode == expect.get("exit", 0), err
    if "stdout" in expect:
        assert re.search(expect["stdout"], out.strip(), re.MULTILINE), out
    for pattern in expect.get("stderr", []):
        assert pattern in err, err
    if "comments" in expect:
        _check_comments(repo, expect["comments"])
    if "uploads" in expect:
        assert len(repo.state.uploads) == expect["uploads"], list(repo.state.uploads)
    for name, pattern in expect.get("files", {}).items():
        assert re.search(pattern, (root / name).read_text()), (root / name).read_text()
    if "pr" in expect:
        _check_pr(repo, expect["pr"], sha8)
    if "check" in expect:
        [run] = repo.state.check_runs
        assert {k: run[k] for k in expect["check"]} == expect["check"]
    if "reruns" in expect:
        assert repo.state.reruns == expect["reruns"]
    for key, value in expect.get("git_config", {}).items():
        assert _git(root, "config", "--get", key) == value


def _run_runner(entry: dict[str, Any], repo: ForgeRepo, env: dict[str, str], root: Path) -> None:
    """An on-premise runner line: registered with the labels asked for, then SIGTERM (the
    job's cancellation, or the user's Ctrl-C) unregisters it."""
    labels = set(entry["expect"]["runner"]["labels"])
    proc = subprocess.Popen(["bash", "-c", entry["run"]], cwd=root, env=cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: any(set(r.labels) == labels for r in repo.runners)
                   or proc.poll() is not None, 60, "the runner to register")  # fmt: skip
        assert proc.poll() is None, proc.communicate()
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert repo.runners == [], err
    assert "unregistered runner" in err


@pytest.mark.parametrize("entry", WORKFLOWS, ids=[e["id"] for e in WORKFLOWS])
def test_cml_workflow_runs_unchanged(
    entry: dict[str, Any], forge_repo: Any, moto_server: Any, tmp_path: Path
) -> None:
    kind = entry.get("forge", "github")
    repo = forge_repo(kind, entry.get("repo"))
    if entry.get("pr"):
        pull = repo.add_pr()
        if entry.get("cml_comment"):
            title = entry["cml_comment"]
            body = (
                f'old\n\n![](https://cml.dev/watermark.png#{repo.commit} "CML watermark {title}")'
            )
            number = repo.server.state.next_id()
            repo.state.comments[number] = StoredComment(number, ("pr", str(pull.number)), body)
    repo.state.allow_auto_merge = bool(entry.get("allow_auto_merge"))
    root = _workspace(tmp_path, entry)
    moto_env = moto_server.env if "--cloud=aws" in entry["run"] else {}
    env = _environment(entry, repo, moto_env)
    env["CMLINFRA_HOME"] = str(tmp_path / "home")
    if "runner" in entry.get("expect", {}):
        _run_runner(entry, repo, env, root)
        return
    done = subprocess.run(["bash", "-e", "-c", entry["run"]], cwd=root, env=cli_env(env),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    _check(entry, repo, done, root)
    if "aws" in entry["expect"]:
        assert not [p for p in (tmp_path / "home").rglob("*") if p.is_file()]


def test_the_suite_is_made_of_at_least_30_cml_lines_each_with_its_source() -> None:
    lines = [line for entry in WORKFLOWS for line in cml_lines(entry)]
    assert len(lines) >= 30, len(lines)
    assert all(re.match(r"^[\w.-]+/[\w.-]+ \S", e["source"]) for e in WORKFLOWS)
    assert len({e["id"] for e in WORKFLOWS}) == len(WORKFLOWS)
