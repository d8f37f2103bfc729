"""Finding 7: tokens were sent to any ``--repo`` scheme. A plain ``http://`` forge got the
token in clear text, and ``cmlinfra ci`` set git's credential helper up for it.

Replayed with a real HTTP listener on this machine's own non-loopback address (so a request,
had one been sent, would arrive): refused in one line, nothing received, no helper configured.
Plain HTTP stays accepted for loopback, where the fake forge of the test suite lives.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.attacks import assert_refused

TOKEN = "ghp_cleartextcanary0123456789"


def _own_address() -> str:
    """This machine's outward IPv4 address (a UDP "connect" sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on the non-loopback address; yields its URL and the requests it got."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"GET {self.path} {self.headers.get('Authorization')}")
            self.send_response(404)
            self.end_headers()

        do_POST = do_PATCH = do_GET

        def log_message(self, *args: object) -> None:
            pass

    address = _own_address()
    assert not address.startswith("127."), "this test needs a non-loopback address"
    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("driver", ["github", "gitlab", "bitbucket"])
def test_a_plain_http_repo_gets_no_token(cli, listener, tmp_path: Path, driver: str) -> None:
    url, seen = listener
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    result = cli(
        "comment", "create", str(report), "--driver", driver, "--repo", f"{url}/acme/ml",
        "--token", TOKEN, "--commit-sha", "0" * 40,
    )  # fmt: skip
    line = assert_refused(result, "is not an https:// URL")
    assert TOKEN not in line
    assert seen == []


def test_a_plain_http_api_from_the_ci_environment_gets_no_token(cli, listener, tmp_path) -> None:
    url, seen = listener
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    env = {"GITHUB_REPOSITORY": "acme/ml", "GITHUB_API_URL": url, "GITHUB_SHA": "0" * 40,
           "REPO_TOKEN": TOKEN}  # fmt: skip
    result = cli("comment", "create", str(report), env=env)
    assert_refused(result, "the github API URL", "is not an https:// URL")
    assert seen == []


def test_ci_configures_no_credential_helper_for_a_plain_http_remote(
    cli, listener, tmp_path
) -> None:
    url, seen = listener
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "remote", "add", "origin", f"{url}/acme/ml.git"])
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "REPO_TOKEN": TOKEN}
    result = cli("ci", "--driver", "github", cwd=work, env=env)
    assert_refused(result, "is not an https:// URL")
    config = (work / ".git" / "config").read_text()
    assert "credential" not in config and TOKEN not in config
    assert "[user]" not in config  # nothing configured at all
    assert seen == []


def test_loopback_http_stays_usable_for_local_servers() -> None:
    from cmlinfra.forges.context import require_https

    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:2", "https://x.test"):
        assert require_https(url, "test") == url
