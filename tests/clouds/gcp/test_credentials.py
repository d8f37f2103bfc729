"""Workload identity federation, as a CI job uses it (examples/github/train-gcp.yml): an
``external_account`` configuration (what google-github-actions/auth writes) whose OIDC token
google-auth exchanges at STS, then trades for the launcher service account's token at IAM
Credentials (``generateAccessToken``, request and response validated against the iamcredentials
v1 discovery document); the Compute fake accepts only that token. No key file anywhere, and
no network call to find the project (the impersonated account names it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.fixtures.gcp import GcpApi
from tests.gcp_server.discovery import Api

SA = "launcher@cml-test.iam.gserviceaccount.com"


@pytest.fixture
def federation(gcp: GcpApi) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A local STS + IAM Credentials endpoint; yields (base URL, what they received)."""
    seen: list[dict[str, object]] = []
    iam = Api("iamcredentials")
    method = next(m for m in iam.methods if m.id.endswith("generateAccessToken"))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.path == "/v1/token":  # STS takes a form, as RFC 8693 says
                seen.append({k: v[-1] for k, v in parse_qs(raw).items()})
                out: dict[str, object] = {
                    "access_token": "federated-token", "token_type": "Bearer",
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "expires_in": 3600}  # fmt: skip
            else:
                body = json.loads(raw)
                found = iam.match("POST", self.path)
                assert found is not None, self.path
                iam.check_request(found[0], found[1], {}, body)
                seen.append(
                    {"impersonate": found[1]["name"], "bearer": self.headers["Authorization"]}
                )
                gcp.server.tokens.add("launcher-token")
                out = {"accessToken": "launcher-token", "expireTime": "2099-01-01T00:00:00Z"}
                iam.check_response(method, out)
            data = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()  # fmt: skip
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_workload_identity_federation(
    gcp: GcpApi, federation: tuple[str, list[dict[str, object]]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from cmlinfra.clouds.gcp import lookups

    url, seen = federation
    (tmp_path / "oidc").write_text("eyJhbGciOiJSUzI1NiJ9.github-actions-oidc.c2ln")
    config = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/123/locations/global/"
                    "workloadIdentityPools/github/providers/github",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{url}/v1/token",
        "service_account_impersonation_url":
            f"{url}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken",
        "credential_source": {"file": str(tmp_path / "oidc")},
    }  # fmt: skip
    (tmp_path / "wif.json").write_text(json.dumps(config))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "wif.json"))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    session = lookups.session()
    assert session.project == "cml-test"  # from the impersonated account, no network call
    lookups.check_reachable(session)
    sts, impersonation = seen
    assert sts["subject_token"] == "eyJhbGciOiJSUzI1NiJ9.github-actions-oidc.c2ln"
    assert sts["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert impersonation == {"impersonate": f"projects/-/serviceAccounts/{SA}",
                             "bearer": "Bearer federated-token"}  # fmt: skip
    assert gcp.server.called("compute.zones.list") == 1
