"""``cmlinfra ci`` against real git: the credential helper answers the forge's host only, with
the username the forge wants for the token at hand; the checkout's Authorization header is
dropped so REPO_TOKEN is really sent (seen by a loopback HTTP server); ``--unshallow``."""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

GITHUB_ENV = {"GITHUB_REPOSITORY": "octo/demo", "GITHUB_SERVER_URL": "https://github.test"}


def _checkout(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    return work


def _git_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for git: its own HOME (with a global helper that would answer any
    host with a stale password), no prompt."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / ".gitconfig").write_text(
        '[credential]\n\thelper = "!f() { echo username=stale; echo password=stale-pw; }; f"\n'
    )
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "GIT_TERMINAL_PROMPT": "0", **extra}


def _fill(work: Path, host: str, env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        ["git", "credential", "fill"],
        cwd=work,
        input=f"protocol=https\nhost={host}\n\n",
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def _config(work: Path, key: str) -> str:
    out = subprocess.run(
        ["git", "config", "--local", "--get-all", key], cwd=work, capture_output=True
    )
    return out.stdout.decode().strip()


def test_ci_sets_identity_and_keeps_the_token_out_of_git_config(cli, tmp_path) -> None:
    work = _checkout(tmp_path)
    env = _git_env(tmp_path, REPO_TOKEN="ghp_secretvalue123456", **GITHUB_ENV)
    result = cli("ci", "--user-name", "Bot", "--user-email", "bot@example.org", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    assert _config(work, "user.name") == "Bot" and _config(work, "user.email") == "bot@example.org"
    assert "ghp_secretvalue123456" not in (work / ".git" / "config").read_text()
    assert _fill(work, "github.test", env) == {
        "protocol": "https",
        "host": "github.test",
        "username": "x-access-token",
        "password": "ghp_secretvalue123456",
    }


def test_ci_gives_the_token_to_the_forge_host_only(cli, tmp_path) -> None:
    work = _checkout(tmp_path)
    env = _git_env(tmp_path, REPO_TOKEN="ghp_secretvalue123456", **GITHUB_ENV)
    assert cli("ci", cwd=work, env=env).returncode == 0
    for host in ("evil.example", "github.test.evil.example", "objects.github.test"):
        answer = _fill(work, host, env)
        assert answer["password"] == "stale-pw", host  # the runner's own helper, not ours
    assert _config(work, "credential.helper") == ""  # nothing global in the checkout


@pytest.mark.parametrize(
    ("ci_env", "token", "host", "user"),
    [
        ({"CI_PROJECT_URL": "https://gitlab.test/g/p", "CI_SERVER_URL": "https://gitlab.test"},
         {"CI_JOB_TOKEN": "job-tok"}, "gitlab.test", "gitlab-ci-token"),
        ({"CI_PROJECT_URL": "https://gitlab.test/g/p", "CI_SERVER_URL": "https://gitlab.test"},
         {"CI_JOB_TOKEN": "job-tok", "REPO_TOKEN": "glpat-x"}, "gitlab.test", "oauth2"),
        ({"BITBUCKET_WORKSPACE": "ws", "BITBUCKET_REPO_SLUG": "demo"},
         {"BITBUCKET_TOKEN": "bb-tok"}, "bitbucket.org", "x-token-auth"),
        ({}, {"GITHUB_TOKEN": "ghs-x"}, "github.com", "x-access-token"),  # from origin
    ],
)  # fmt: skip
def test_ci_username_follows_the_forge_and_token(cli, tmp_path, ci_env, token, host, user) -> None:
    work = _checkout(tmp_path)
    if not ci_env:  # outside CI: the origin remote names the forge
        subprocess.run(["git", "remote", "add", "origin", f"https://{host}/o/r.git"], cwd=work)
    env = _git_env(tmp_path, **ci_env, **token)
    result = cli("ci", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    answer = _fill(work, host, env)
    expected = token.get("REPO_TOKEN") or next(iter(token.values()))
    assert (answer["username"], answer["password"]) == (user, expected)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A forge's smart-HTTP endpoint reduced to its authentication: 401 until the request
    carries Basic credentials, recording every Authorization header it is sent."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        self.seen.append(auth or "")
        self.send_response(404 if auth else 401)
        if not auth:
            self.send_header("WWW-Authenticate", 'Basic realm="forge"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()
    thread.join()


def test_ci_drops_the_checkout_header_so_repo_token_is_sent(cli, tmp_path, recorder) -> None:
    url, seen = recorder
    work = _checkout(tmp_path)
    header = f"http.{url}/.extraheader"
    checkout_auth = "AUTHORIZATION: basic " + base64.b64encode(b"x-access-token:ghs_job").decode()
    subprocess.run(["git", "config", header, checkout_auth], cwd=work, check=True)
    env = _git_env(tmp_path, REPO_TOKEN="ghp_pat", GITHUB_REPOSITORY="o/r", GITHUB_SERVER_URL=url)
    result = cli("ci", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    assert "extraheader" in result.stderr and _config(work, header) == ""
    subprocess.run(["git", "ls-remote", f"{url}/o/r.git"], cwd=work, env=env, capture_output=True)
    pat = "Basic " + base64.b64encode(b"x-access-token:ghp_pat").decode()
    assert pat in seen and not [s for s in seen if "ghs_job" in base64_text(s)]


def base64_text(header: str) -> str:
    return base64.b64decode(header.split()[-1]).decode() if header else ""


def test_ci_keeps_the_checkout_header_without_a_token(cli, tmp_path) -> None:
    work = _checkout(tmp_path)
    header = "http.https://github.test/.extraheader"
    subprocess.run(["git", "config", header, "AUTHORIZATION: basic eA=="], cwd=work, check=True)
    result = cli("ci", cwd=work, env=_git_env(tmp_path, **GITHUB_ENV))
    assert result.returncode == 0, result.stderr
    assert _config(work, header) == "AUTHORIZATION: basic eA=="  # the only credential there is


def test_ci_unshallow_fetches_the_full_history(cli, tmp_path) -> None:
    source = tmp_path / "source"
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    for i in range(3):
        subprocess.run(
            ["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q",
             "--allow-empty", "-m", f"c{i}"],
            cwd=source, check=True,
        )  # fmt: skip
    work = tmp_path / "work"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{source}", str(work)], check=True
    )
    env = _git_env(tmp_path)
    result = cli("ci", "--no-credentials", "--unshallow", cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    assert _git_out(work, "rev-parse", "--is-shallow-repository") == "false"
    assert _git_out(work, "rev-list", "--count", "HEAD") == "3"
    again = cli("ci", "--no-credentials", "--unshallow", cwd=work, env=env)  # already full
    assert again.returncode == 0 and "full history" not in again.stderr


def test_ci_fetch_depth_as_cml(cli, tmp_path) -> None:
    """CML's ``ci --fetch-depth N`` (every branch and tag N deep) and ``--fetch-depth 0`` (the
    whole history), also spelled ``cml repo prepare``."""
    source = tmp_path / "source"
    subprocess.run(["git", "init", "-q", str(source)], check=True)
    for i in range(4):
        subprocess.run(
            ["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q",
             "--allow-empty", "-m", f"c{i}"],
            cwd=source, check=True,
        )  # fmt: skip
    work = tmp_path / "work"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{source}", str(work)], check=True
    )
    env = _git_env(tmp_path)
    two = cli("repo", "prepare", "--no-credentials", "--fetch-depth=2", cwd=work, env=env)
    assert two.returncode == 0, two.stderr
    assert _git_out(work, "rev-list", "--count", "HEAD") == "2"
    full = cli("ci", "--no-credentials", "--fetch-depth", "0", cwd=work, env=env)
    assert full.returncode == 0, full.stderr
    assert _git_out(work, "rev-parse", "--is-shallow-repository") == "false"
    assert _git_out(work, "rev-list", "--count", "HEAD") == "4"


def _git_out(work: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=work, capture_output=True, text=True).stdout.strip()


def test_ci_outside_a_repository_is_one_plain_line(cli, tmp_path) -> None:
    result = cli("ci", cwd=tmp_path, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert result.returncode == 1
    assert "inside the repository checkout" in result.stderr
    assert "not a git repository" in result.stderr and "['" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ci_without_a_forge_is_a_usage_error(cli, tmp_path) -> None:
    work = _checkout(tmp_path)
    result = cli("ci", cwd=work, env=_git_env(tmp_path, REPO_TOKEN="t"))
    assert result.returncode == 2 and "--driver" in result.stderr
    assert _config(work, "credential.helper") == ""
