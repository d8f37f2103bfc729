"""The runner registry in Azure Blob Storage: ``--state azurerm://ACCOUNT/CONTAINER/PREFIX``.

The same layout as every store (``PREFIX/NAME/runner.json``, ``launcher.lock``, Terraform's
``terraform.tfstate`` written by the engine's azurerm backend next to them), so an Azure-only
team needs no AWS account. Locks are created atomically with a conditional write
(``If-None-Match: *``): of two launchers, exactly one creates the blob, the other gets
``409 BlobAlreadyExists`` and learns who holds it.

Credentials: ``$ARM_ACCESS_KEY`` / ``$AZURE_STORAGE_KEY`` (the account key Terraform's azurerm
backend also reads) when set, else ``DefaultAzureCredential`` (the principal needs *Storage
Blob Data Contributor* on the container). The endpoint is the account's own,
``https://ACCOUNT.blob.core.windows.net``, as for Terraform's backend (the tests reach Azurite
there through a local proxy).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.records import LockInfo, RunnerRecord

RECORD, LOCK, TFSTATE, STACK = "runner.json", "launcher.lock", "terraform.tfstate", "stack.tar.gz"
KEY_ENVS = ("ARM_ACCESS_KEY", "AZURE_STORAGE_KEY")


def account_key() -> str | None:
    for name in KEY_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


@dataclass
class BlobStore:
    """A container prefix shared by every CI job; atomic locks with conditional writes."""

    account: str
    container: str
    prefix: str
    url: str = ""
    _client: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from azure.storage.blob import ContainerClient

        endpoint = f"https://{self.account}.blob.core.windows.net"
        key = account_key()
        if key:
            credential: Any = {"account_name": self.account, "account_key": key}
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        self._client = ContainerClient(
            endpoint, self.container, credential=credential, connection_timeout=10,
            read_timeout=60, retry_total=3,
        )  # fmt: skip

    def _key(self, name: str, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, name, leaf) if p)

    def _read(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return bytes(self._client.download_blob(key).readall())
        except ResourceNotFoundError:
            return None

    def _write(self, key: str, data: bytes) -> None:
        self._client.upload_blob(key, data, overwrite=True)

    def _remove(self, key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self._client.delete_blob(key)

    def _names_with(self, leaf: str) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        found = []
        for blob in self._client.list_blobs(name_starts_with=start):
            rest = blob.name[len(start) :].split("/")
            if len(rest) == 2 and rest[1] == leaf:
                found.append(rest[0])
        return sorted(found)

    def names(self) -> list[str]:
        return self._names_with(RECORD)

    def get(self, name: str) -> RunnerRecord | None:
        data = self._read(self._key(name, RECORD))
        return None if data is None else RunnerRecord.from_json(data.decode())

    def put(self, record: RunnerRecord) -> None:
        self._write(self._key(record.name, RECORD), record.to_json().encode())

    def delete(self, name: str) -> None:
        for leaf in (TFSTATE, STACK, RECORD):  # the state is empty: its stack was destroyed
            self._remove(self._key(name, leaf))

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        from azure.core.exceptions import ResourceExistsError

        try:  # overwrite=False sends If-None-Match: *, so the creation is atomic
            self._client.upload_blob(
                self._key(info.name, LOCK), info.to_json().encode(), overwrite=False
            )
        except ResourceExistsError:
            return self.read_lock(info.name) or info
        return None

    def read_lock(self, name: str) -> LockInfo | None:
        data = self._read(self._key(name, LOCK))
        return None if data is None else LockInfo.from_json(name, data.decode())

    def unlock(self, name: str) -> None:
        self._remove(self._key(name, LOCK))

    def lock_names(self) -> list[str]:
        return self._names_with(LOCK)

    def put_blob(self, name: str, leaf: str, data: bytes) -> None:
        self._write(self._key(name, leaf), data)

    def get_blob(self, name: str, leaf: str) -> bytes | None:
        return self._read(self._key(name, leaf))

    def check(self) -> None:
        """The container must exist and be reachable with these credentials."""
        from azure.core.exceptions import AzureError

        try:
            self._client.get_container_properties()
        except AzureError as exc:
            reason = getattr(getattr(exc, "error_code", None), "value", None) or getattr(
                exc, "error_code", None
            )
            raise CmlinfraError(
                f"cannot use blob container {self.container!r} of storage account "
                f"{self.account!r}: {reason or type(exc).__name__}",
                "create the container, and check ARM_ACCESS_KEY or the principal's "
                "'Storage Blob Data Contributor' role",
            ) from None


def open_blob_store(url: str) -> BlobStore:
    """``azurerm://ACCOUNT/CONTAINER/PREFIX`` → a checked store."""
    from cmlinfra.terraform.backends import azurerm_location

    account, container, prefix = azurerm_location(url)
    store = BlobStore(account, container, prefix, url)
    store.check()
    return store
