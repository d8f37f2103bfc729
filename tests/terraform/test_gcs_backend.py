"""Terraform's gcs backend for real, against fake-gcs-server: ``--state gs://bucket/prefix``
keeps each stack's state in ``PREFIX/NAME/default.tfstate`` and terraform's own lock object
makes a second run fail with the one-line lock error while the first holds it.

Terraform 1.0.3 cannot be pointed at an emulator: it has no ``storage_custom_endpoint`` (from
1.4), and with ``STORAGE_EMULATOR_HOST`` its storage client refuses any credentials
("options.WithoutAuthentication is incompatible with any option that provides credentials"),
while the backend always passes some. So the endpoint is refused for it in one line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from cmlinfra.errors import CmlinfraError
from cmlinfra.terraform import GcsBackend, TerraformBinary, parse_state_url
from tests.fixtures.gcs import GcsServer
from tests.terraform.conftest import Background, stack_config, workspace

# The gcs backend wants some credentials; the emulator ignores them. This is the backend's
# documented variable for a short-lived token (a CI job gets one from workload identity).
ENV = {"GOOGLE_OAUTH_ACCESS_TOKEN": "not-a-real-token"}
# Terraform's lock attempt gets 412 (the object exists) and refuses to run. It then reads the
# lock's info to say who holds it, path-style (/BUCKET/OBJECT), which fake-gcs-server serves at
# its -public-host (tests/fixtures/gcs.py), so terraform prints its usual "Lock Info:" block, as
# against Cloud Storage, and cmlinfra turns it into "state is locked by WHO since WHEN" for
# every backend (tests/terraform/test_locking.py).
LOCK_REFUSED = r"state is locked by .+ \(apply, lock ID \d+\)"


def test_state_url_and_block() -> None:
    backend = parse_state_url("gs://team-state/cml?endpoint=http://127.0.0.1:1/storage/v1/",
                              name="cml-r1")  # fmt: skip
    assert backend == GcsBackend("team-state", "cml/cml-r1", "http://127.0.0.1:1/storage/v1/")
    assert "gs://team-state/cml/cml-r1" in backend.describe()
    from cmlinfra.errors import UsageError

    with pytest.raises(UsageError, match="unknown parameter 'region'"):
        parse_state_url("gs://b/p?region=x")
    with pytest.raises(UsageError, match="names no bucket"):
        parse_state_url("gs:///p")


def test_terraform_1_0_refuses_a_custom_endpoint(tf_versions: dict[str, TerraformBinary]) -> None:
    backend = GcsBackend("b", "p", "http://127.0.0.1:1/storage/v1/")
    with pytest.raises(CmlinfraError, match=r"needs terraform >= 1\.4, not terraform 1\.0\.3"):
        backend.block(tf_versions["1.0.3"])
    assert GcsBackend("b", "p").block(tf_versions["1.0.3"]) == {
        "gcs": {"bucket": "b", "prefix": "p"}
    }


def test_state_and_lock_on_gcs(tf_latest: TerraformBinary, gcs_server: GcsServer,
                               tmp_path: Path) -> None:  # fmt: skip
    bucket = gcs_server.bucket()
    url = f"gs://{bucket}/team?endpoint={gcs_server.url}/storage/v1/"
    backend = parse_state_url(url, name="cml-r1")
    release = tmp_path / "release"
    holder = workspace(tf_latest, tmp_path / "a", backend,
                       stack_config(tf_latest, wait_for=release), env=ENV)  # fmt: skip
    other = workspace(tf_latest, tmp_path / "b", backend, stack_config(tf_latest), env=ENV,
                      lock_timeout="0s")  # fmt: skip
    holder.init()
    other.init()
    holder.plan()
    running = Background(holder.apply)
    lock_url = f"{gcs_server.url}/storage/v1/b/{bucket}/o/team%2Fcml-r1%2Fdefault.tflock"
    deadline = time.monotonic() + 60
    while True:  # poll the emulator until the apply holds the lock (other steps lock briefly)
        answer = requests.get(f"{lock_url}?alt=media", timeout=10)
        if answer.status_code == 200 and answer.json().get("Operation") == "OperationTypeApply":
            break
        assert time.monotonic() < deadline, "the apply never took the lock"
        time.sleep(0.05)
    with pytest.raises(CmlinfraError, match=LOCK_REFUSED):
        other.plan()
    release.touch()
    running.result()
    assert gcs_server.objects(bucket) == ["team/cml-r1/default.tfstate"]  # lock released
    state_url = f"{gcs_server.url}/storage/v1/b/{bucket}/o/team%2Fcml-r1%2Fdefault.tfstate"
    state = json.loads(requests.get(f"{state_url}?alt=media", timeout=10).text)
    assert state["outputs"]["greeting"]["value"] == "hello v1"
    other.destroy()
