"""The runner registry in Azure Blob Storage, for real on Azurite: records, blobs and locks
at ``azurerm://devstoreaccount1/CONTAINER/PREFIX`` (tests/fixtures/azurite.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.records import LockInfo, RunnerRecord
from cmlinfra.runner.store import holding, locks, open_store, records
from tests.fixtures.azurite import Azurite
from tests.fixtures.cli import CliRunner


@pytest.fixture
def container(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    for key, value in azurite.env.items():
        monkeypatch.setenv(key, value)
    name = "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    azurite.container(name)
    yield name
    assert azurite.proxy.refused == [], "only the blob endpoint may be reached"


def record(name: str) -> RunnerRecord:
    return RunnerRecord(name=name, cloud="azure", created=time.time(), region="eastus")


def test_records_blobs_and_deletion(container: str) -> None:
    store = open_store(f"azurerm://devstoreaccount1/{container}/runners")
    assert store.names() == [] and store.get("cml-1") is None
    store.put(record("cml-1"))
    store.put(record("cml-2"))
    store.put_blob("cml-1", "terraform.tfstate", b'{"version": 4}')
    assert store.names() == ["cml-1", "cml-2"]
    assert [r.name for r in records(store)] == ["cml-1", "cml-2"]
    assert store.get_blob("cml-1", "terraform.tfstate") == b'{"version": 4}'
    store.delete("cml-1")
    assert store.names() == ["cml-2"] and store.get_blob("cml-1", "terraform.tfstate") is None
    other = open_store(f"azurerm://devstoreaccount1/{container}/elsewhere")
    assert other.names() == []  # prefixes do not see each other


def test_exactly_one_of_many_launchers_gets_the_lock(container: str) -> None:
    store = open_store(f"azurerm://devstoreaccount1/{container}/runners")
    results: list[LockInfo | None] = []
    start = threading.Barrier(6)

    def take(i: int) -> None:
        mine = LockInfo(name="cml-x", holder=f"h{i}", operation="launch", since=float(i))
        start.wait()
        results.append(store.try_lock(mine))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [r for r in results if r is None]
    assert len(results) == 6 and len(winners) == 1
    holder = store.read_lock("cml-x")
    assert holder is not None and all(r.holder == holder.holder for r in results if r)
    assert [lock.name for lock in locks(store)] == ["cml-x"]
    store.unlock("cml-x")
    assert store.lock_names() == []


def test_holding_names_the_other_launcher(container: str) -> None:
    store = open_store(f"azurerm://devstoreaccount1/{container}/runners")
    with (
        holding(store, "cml-y", "launch"),
        pytest.raises(CmlinfraError, match="runner 'cml-y' is locked by"),
        holding(store, "cml-y", "destroy"),
    ):
        pass
    assert store.lock_names() == []


def test_a_missing_container_or_a_wrong_key_is_one_line(
    container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CmlinfraError, match="cannot use blob container 'nothere'") as info:
        open_store("azurerm://devstoreaccount1/nothere/runners")
    assert "create the container" in info.value.fix
    monkeypatch.setenv("ARM_ACCESS_KEY", "d3Jvbmcta2V5")
    with pytest.raises(CmlinfraError, match=f"cannot use blob container '{container}'"):
        open_store(f"azurerm://devstoreaccount1/{container}/runners")
    with pytest.raises(UsageError, match="is not a storage account name"):
        open_store("azurerm://Dev_Store/runners")


def test_runner_list_reads_the_registry(cli: CliRunner, azurite: Azurite, container: str) -> None:
    store = open_store(f"azurerm://devstoreaccount1/{container}/runners")
    store.put(record("cml-listed"))
    result = cli(
        "--json", "runner", "list", "--state", f"azurerm://devstoreaccount1/{container}/runners",
        env=azurite.env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "cml-listed" in result.stdout
