"""The runner registry on GCS through google-cloud-storage, against fake-gcs-server: records,
atomic locks (ifGenerationMatch=0), blobs, idempotent delete, and the bad-bucket error."""

from __future__ import annotations

import time

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.gcs_store import GcsStore
from cmlinfra.runner.records import LockInfo, RunnerRecord
from cmlinfra.runner.store import holding, locks, open_store, records
from tests.fixtures.gcs import GcsServer


@pytest.fixture
def url(gcs_server: GcsServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    return f"gs://{gcs_server.bucket()}/team-a"


def record(name: str) -> RunnerRecord:
    return RunnerRecord(name=name, cloud="gcp", instance_type="n1-standard-4")


def test_records_blobs_and_delete(url: str, gcs_server: GcsServer) -> None:
    store = open_store(url)
    assert isinstance(store, GcsStore) and store.names() == []
    store.put(record("cml-a"))
    store.put(record("cml-b"))
    store.put_blob("cml-a", "stack.tar.gz", b"\x1f\x8b tar")
    assert store.names() == ["cml-a", "cml-b"]
    assert [r.name for r in records(store)] == ["cml-a", "cml-b"]
    assert store.get_blob("cml-a", "stack.tar.gz") == b"\x1f\x8b tar"
    assert store.get("cml-zz") is None and store.get_blob("cml-zz", "x") is None
    store.delete("cml-a")
    store.delete("cml-a")  # idempotent
    bucket = url.split("/")[2]
    assert gcs_server.objects(bucket) == ["team-a/cml-b/runner.json"]


def test_a_lock_has_one_owner(url: str) -> None:
    first, second = open_store(url), open_store(url)  # two launchers
    mine = LockInfo(name="cml-l", holder="host-a:1", operation="launch", since=time.time())
    other = LockInfo(name="cml-l", holder="host-b:2", operation="launch", since=time.time())
    assert first.try_lock(mine) is None
    held = second.try_lock(other)
    assert held is not None and held.holder == "host-a:1"
    assert [lock.name for lock in locks(second)] == ["cml-l"]
    first.unlock("cml-l")
    assert second.try_lock(other) is None
    with pytest.raises(CmlinfraError, match="locked by host-b:2"), holding(first, "cml-l", "x"):
        pass


def test_missing_bucket_is_one_line(gcs_server: GcsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    with pytest.raises(CmlinfraError) as err:
        open_store("gs://no-such-bucket/x")
    assert err.value.line() == (
        "state bucket 'no-such-bucket' does not exist; create it first: "
        "gcloud storage buckets create gs://no-such-bucket"
    )
