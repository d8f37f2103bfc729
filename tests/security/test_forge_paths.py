"""Finding 3: forge API path traversal. ``--target commit/../..``, ``--commit-sha`` and
``workflow rerun --id`` went into URL paths unvalidated, so ``..`` segments sent
token-authenticated requests outside ``/repos/OWNER/REPO``.

Replayed against the fake forge server (every request validated against the forge's OpenAPI
description, every request logged as sent): each attack is refused in one line and no request
leaves the repository's own API path. The drivers check each path component where they build
the URL (:mod:`cmlinfra.forges.paths`), and the HTTP client refuses any dot segment.
"""

from __future__ import annotations

import posixpath
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import open_store
from tests.forge_server.state import StoredRunner
from tests.security.attacks import assert_refused

PREFIX = {
    "github": "/repos/octo/demo",
    "gitlab": "/api/v4/projects/group%2Fsub%2Fdemo",
    "bitbucket": "/2.0/repositories/ws/demo",
}
TRAVERSALS = ["../..", "..%2F..%2F..", "%2e%2e/%2e%2e", "0123abc/../../../../user"]


def _stayed_home(forge, kind: str) -> None:
    """Every request the server saw stayed under the repository's own API path."""
    for call in forge.api_calls():
        normal = posixpath.normpath(unquote(call.path))
        assert ".." not in call.path.split("/"), call
        assert normal.startswith(unquote(PREFIX[kind])), call


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.md"
    path.write_text("# report\n")
    return path


# each forge with two of the traversals
@pytest.mark.parametrize(
    ("kind", "ref"),
    [
        (kind, TRAVERSALS[(i + j) % len(TRAVERSALS)])
        for i, kind in enumerate(["github", "gitlab", "bitbucket"])
        for j in (0, 2)
    ],
)
def test_target_commit_traversal(cli, forge, forge_repo, report: Path, kind: str, ref: str) -> None:
    repo = forge_repo(kind)
    result = cli("comment", "create", str(report), "--target", f"commit/{ref}", env=repo.env())
    assert_refused(result)
    _stayed_home(forge, kind)
    assert repo.comments() == []


@pytest.mark.parametrize("kind", ["github", "gitlab", "bitbucket"])
def test_commit_sha_traversal(cli, forge, forge_repo, report: Path, kind: str) -> None:
    repo = forge_repo(kind)
    result = cli(
        "comment", "create", str(report), "--commit-sha", "../../../../user", env=repo.env()
    )
    assert_refused(result, "--commit-sha")
    _stayed_home(forge, kind)
    assert forge.api_calls() == []  # nothing sent at all


@pytest.mark.parametrize("kind", ["github", "gitlab"])
# "\uff11\uff12": fullwidth digits, which str.isdigit() takes for a number
@pytest.mark.parametrize("run_id", ["../../../../user", "1/../../..", "\uff11\uff12"])
def test_workflow_rerun_id_traversal(cli, forge, forge_repo, kind: str, run_id: str) -> None:
    repo = forge_repo(kind)
    result = cli("workflow", "rerun", "--id", run_id, env=repo.env())
    assert_refused(result, "is not a positive number")
    assert forge.api_calls() == []


@pytest.mark.parametrize("run_id", ["../../../../user", "{1b4e28ba-2fa1-11d2-883f}/../..", "7/.."])
def test_bitbucket_pipeline_id_traversal(cli, forge, forge_repo, run_id: str) -> None:
    """Bitbucket re-runs a pipeline by its UUID or build number (a new pipeline)."""
    repo = forge_repo("bitbucket")
    result = cli("workflow", "rerun", "--id", run_id, env=repo.env())
    assert_refused(result, "is neither a pipeline UUID nor a build number")
    assert forge.api_calls() == [] and repo.state.pipelines == []


def test_pr_branch_traversal(cli, forge, forge_repo, tmp_path: Path) -> None:
    repo = forge_repo("github")
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "model.txt").write_text("x\n")
    result = cli("pr", "create", "model.txt", "--branch", "../../../../x", cwd=work, env=repo.env())
    assert_refused(result, "is not a valid git branch name")
    _stayed_home(forge, "github")
    assert repo.state.pulls == {}


@pytest.mark.parametrize(
    ("kind", "runner_id"),
    [
        ("github", "1/../../../../../user"),
        ("gitlab", "../../user"),
        ("bitbucket", "{00000000-0000-0000-0000-000000000000}/../../../../user"),
    ],
)
def test_a_registry_runner_id_cannot_redirect_the_unregister(
    cli, forge, forge_repo, tmp_path: Path, kind: str, runner_id: str
) -> None:
    """The runner id comes from the shared registry, which someone else may write."""
    repo = forge_repo(kind)
    state = str(tmp_path / "registry")
    record = RunnerRecord(name="cmlt-paths", cloud="ssh", forge=kind, runner_id=runner_id)
    open_store(state).put(record)
    env = {**repo.env(), "CMLINFRA_HOME": str(tmp_path / "home")}
    result = cli("runner", "destroy", "cmlt-paths", "--state", state, env=env)
    assert_refused(result, "runner id")
    assert [c for c in forge.api_calls() if c.method == "DELETE"] == []
    _stayed_home(forge, kind)


def test_a_pagination_link_to_another_host_gets_no_token() -> None:
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges.http import ForgeHTTP

    http = ForgeHTTP("https://api.github.test", lambda: {}, forge="GitHub", errors=lambda r: None)
    assert http.url("https://api.github.test/repos/o/r?page=2").endswith("page=2")
    for elsewhere in ("https://evil.test/repos/o/r", "http://api.github.test/x"):
        with pytest.raises(CmlinfraError, match="not sending the token there"):
            http.url(elsewhere)


def test_a_registry_records_forge_base_elsewhere_gets_no_token(
    cli, forge, forge_repo, tmp_path: Path
) -> None:
    """Launch keeps the forge's web and API base in the record (a GitLab under a relative
    URL); the registry is shared, so a base on another host than the connection's own is
    never used: the unregistration goes to the forge the token is for, nothing elsewhere."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    heard: list[str] = []

    class Listener(BaseHTTPRequestHandler):
        def do_DELETE(self) -> None:
            heard.append(self.path)
            self.send_response(204)
            self.end_headers()

        do_GET = do_DELETE

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    try:
        repo = forge_repo("gitlab")
        context = repo.context()
        repo.state.runners[4711] = StoredRunner(4711, "cmlt-base", ["cml"], "", status="offline")
        record = RunnerRecord(name="cmlt-base", cloud="ssh", forge="gitlab", runner_id="4711")
        record.repo = context.repo_url
        evil = f"http://127.0.0.1:{elsewhere.server_port}"
        record.web_url, record.api_url = context.web_url, evil
        state = str(tmp_path / "registry")
        open_store(state).put(record)
        env = {**repo.env(), "CMLINFRA_HOME": str(tmp_path / "home")}
        result = cli("runner", "destroy", "cmlt-base", "--state", state, env=env)
        assert result.returncode == 0, result.stderr
        assert heard == [] and repo.state.runners == {}
    finally:
        elsewhere.shutdown()
        elsewhere.server_close()
