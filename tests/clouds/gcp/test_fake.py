"""The Compute fake really holds requests and responses to Google's discovery documents: each
kind of drift is caught (else "validated" would be an empty claim)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.fixtures.gcp import GcpApi

ZONE = "projects/cml-test/zones/us-west1-b"


def call(gcp: GcpApi, verb: str, path: str, body: Any = None) -> requests.Response:
    token = "fake-token-test"
    gcp.server.tokens.add(token)
    return requests.request(verb, f"{gcp.server.url}/compute/v1/{path}", json=body, timeout=10,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip


@pytest.mark.parametrize(
    ("verb", "path", "body", "expected"),
    [
        ("POST", f"{ZONE}/instances", {"name": "x", "machineTyp": "n1"},
         "unknown field 'machineTyp'"),
        ("POST", f"{ZONE}/instances", {"name": "x", "scheduling": {"provisioningModel": "CHEAP"}},
         "'CHEAP' is not one of"),
        ("POST", f"{ZONE}/instances", {"name": "x", "scheduling": {"automaticRestart": "yes"}},
         "expected a boolean"),
        ("GET", f"{ZONE}/instances?maxResult=5", None, "unknown query parameter 'maxResult'"),
        ("GET", f"{ZONE}/instances/x/serialPort?port=one", None, "expected an integer"),
        ("POST", f"{ZONE}/instances", None, "a request body is required"),
    ],
)  # fmt: skip
def test_bad_requests_are_refused(gcp: GcpApi, verb: str, path: str, body: Any,
                                  expected: str) -> None:  # fmt: skip
    answer = call(gcp, verb, path, body)
    assert answer.status_code == 400, answer.text
    assert expected in answer.json()["error"]["message"]
    assert any(expected in i for i in gcp.server.invalid)
    gcp.server.invalid.clear()  # expected here; the fixture checks nothing else slipped through


def test_a_drifting_response_is_caught(gcp: GcpApi) -> None:
    gcp.compute.add_image("cml-test", "img", "fam")["diskSizeGb"] = 10  # int64 must be a string
    answer = call(gcp, "GET", "projects/cml-test/global/images/img")
    assert answer.status_code == 500
    assert gcp.server.invalid == ["response compute.images.get response.diskSizeGb: int64 must "
                                  "be a string of digits, got 10"]  # fmt: skip
    gcp.server.invalid.clear()


def test_calls_need_a_token(gcp: GcpApi) -> None:
    answer = requests.get(f"{gcp.server.url}/compute/v1/projects/cml-test/zones", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["errors"][0]["reason"] == "authError"
