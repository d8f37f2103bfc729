"""The runner registry on a local directory and on S3 (a real moto server)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.records import LockInfo, RunnerRecord
from cmlinfra.runner.store import LocalStore, RunnerStore, holding, locks, open_store, records


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RunnerStore:
    if request.param == "local":
        return open_store(str(tmp_path / "state"))
    moto = request.getfixturevalue("moto")
    moto.client("s3").create_bucket(Bucket="runners")
    return open_store(f"s3://runners/team/ci?region=us-east-1&endpoint={moto.endpoint}")


def test_records_round_trip_and_list(store: RunnerStore) -> None:
    first = RunnerRecord(name="gpu-a", cloud="aws", labels=["cml", "gpu"], hourly_price=0.5)
    store.put(first)
    store.put(RunnerRecord(name="gpu-b", cloud="lxd", created=first.created + 1))
    assert [r.name for r in records(store)] == ["gpu-a", "gpu-b"]
    assert store.get("gpu-a") == first
    first.phase = "ready"
    store.put(first)
    assert store.get("gpu-a").phase == "ready"  # type: ignore[union-attr]
    store.delete("gpu-a")
    assert store.get("gpu-a") is None
    assert store.names() == ["gpu-b"]


def test_lock_is_exclusive_and_names_the_holder(store: RunnerStore) -> None:
    with holding(store, "gpu-a", "launch"):
        assert [lock.name for lock in locks(store)] == ["gpu-a"]
        busy = r"'gpu-a' is locked by .*:\d+ \(launch since"
        with pytest.raises(CmlinfraError, match=busy), holding(store, "gpu-a", "destroy"):
            pass
        with holding(store, "gpu-b", "launch"):  # other names are independent
            pass
    assert locks(store) == []


def test_lock_is_released_when_the_step_fails(store: RunnerStore) -> None:
    with pytest.raises(RuntimeError), holding(store, "gpu-a", "launch"):
        raise RuntimeError("apply failed")
    assert store.read_lock("gpu-a") is None


def test_only_one_of_many_parallel_launchers_gets_the_lock(store: RunnerStore) -> None:
    def attempt(i: int) -> bool:
        info = LockInfo("race", f"{socket.gethostname()}:{i}", "launch", time.time())
        return store.try_lock(info) is None

    with ThreadPoolExecutor(8) as pool:
        winners = sum(pool.map(attempt, range(16)))
    assert winners == 1


def test_lock_of_a_killed_launcher_is_stale(store: RunnerStore) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    holder = f"{socket.gethostname()}:{proc.pid}"
    store.try_lock(LockInfo("gpu-a", holder, "launch", time.time()))
    lock = store.read_lock("gpu-a")
    assert lock is not None and lock.stale(max_age=3600) == ""
    proc.kill()
    proc.wait()
    assert "no longer running" in lock.stale(max_age=3600)


def test_old_lock_from_another_host_is_stale_after_max_age() -> None:
    lock = LockInfo("gpu-a", "ci-runner-7:1234", "launch", time.time() - 7200)
    assert lock.stale(max_age=3600) == "held for 120 min by ci-runner-7:1234"
    assert lock.stale(max_age=3 * 3600) == ""


def test_cost_and_expiry() -> None:
    record = RunnerRecord(name="a", cloud="aws", created=1000.0, hourly_price=3.0, expires=4600.0)
    assert record.cost_so_far(now=1000.0 + 1800) == 1.5
    assert not record.expired(now=4599.0)
    assert record.expired(now=4600.0)
    assert RunnerRecord(name="b", cloud="lxd").cost_so_far() is None


def test_a_record_names_its_repository_as_the_forge_does() -> None:
    """Launch keeps where its runner is registered, the forge's web and API base included; a
    GitLab under a relative URL (``https://git.corp.com/gitlab``) has its projects below it,
    and a record of before (no ``web_url``) reads its URL's whole path, as then."""
    from cmlinfra.forges.context import detect
    from cmlinfra.runner.records import registered_at

    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_URL": "https://git.corp.com/gitlab/group/proj",
        "CI_SERVER_URL": "https://git.corp.com/gitlab",
        "REPO_TOKEN": "t",
    }
    fields = registered_at(detect(env, owner_ok=True))
    assert fields == {
        "repo": "https://git.corp.com/gitlab/group/proj",
        "scope": "repository",
        "web_url": "https://git.corp.com/gitlab",
        "api_url": "https://git.corp.com/gitlab",
    }
    record = RunnerRecord.from_json(RunnerRecord(name="a", cloud="aws", **fields).to_json())
    assert record.repo_path() == "group/proj"
    old = RunnerRecord(name="b", cloud="aws", repo="https://gitlab.com/group/proj")
    assert old.repo_path() == "group/proj"
    assert registered_at(None) == {}  # exec: registered nowhere


def test_local_store_leaves_no_empty_folders(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put(RunnerRecord(name="a", cloud="lxd"))
    with holding(store, "a", "destroy"):
        store.delete("a")
    assert list(tmp_path.iterdir()) == []


def test_missing_bucket_is_a_one_line_error(moto) -> None:
    with pytest.raises(CmlinfraError, match="cannot use state bucket 'nope'"):
        open_store(f"s3://nope/x?region=us-east-1&endpoint={moto.endpoint}")


@pytest.mark.parametrize(
    ("url", "message"),
    [("s3:///prefix", "names no bucket"), ("azure://bucket/x", "scheme 'azure' is not supported")],
)
def test_bad_state_urls(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_store(url)
