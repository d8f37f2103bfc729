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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cmlinfra.errors import CmlinfraError, UsageError
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
    _credential: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        from azure.storage.blob import ContainerClient

        endpoint = f"https://{self.account}.blob.core.windows.net"
        key = account_key()
        if key:
            credential: Any = {"account_name": self.account, "account_key": key}
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
        self._credential = credential
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
        # the state is empty: its stack was destroyed; a reclaim's checkpoint (checkpoints.py)
        for leaf in (TFSTATE, STACK, "checkpoint.tgz", "checkpoint.env", RECORD):
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

    # what --checkpoint-dir needs at any key of the container (checkpoint_urls.KeyStore)

    def presign_put(self, key: str, seconds: int) -> str:
        """A blob SAS URL that may create or overwrite ``key`` only (the upload must say
        ``x-ms-blob-type: BlockBlob``: :meth:`put_headers`)."""
        from azure.storage.blob import BlobSasPermissions

        return self._sas_url(key, BlobSasPermissions(create=True, write=True), seconds)

    def put_headers(self) -> tuple[str, ...]:
        return ("x-ms-blob-type: BlockBlob",)  # Put Blob refuses a PUT without it

    def _sas_url(self, key: str, permission: Any, seconds: int) -> str:
        """Signed with the account key when there is one, else with a user delegation key
        (Entra credentials; at most 7 days, as the key itself). A bearer credential: it is
        registered as a secret, so an error that quotes it is masked."""
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobServiceClient, generate_blob_sas

        from cmlinfra.secrets import REGISTRY

        now = datetime.now(UTC)
        expiry = now + timedelta(seconds=seconds)
        signer: dict[str, Any] = {"account_key": account_key()}
        if not signer["account_key"]:
            endpoint = f"https://{self.account}.blob.core.windows.net"
            service = BlobServiceClient(endpoint, credential=self._credential)
            try:
                delegation = service.get_user_delegation_key(now - timedelta(minutes=5), expiry)
            except AzureError as exc:
                raise UsageError(
                    f"cannot sign the checkpoint's upload URL for storage account "
                    f"{self.account!r}: no user delegation key ({type(exc).__name__})",
                    "set ARM_ACCESS_KEY to the account key, or give the principal 'Storage "
                    "Blob Data Contributor' on the account; or drop --checkpoint-dir",
                ) from None
            signer = {"user_delegation_key": delegation}
        sas = generate_blob_sas(
            self.account, self.container, key, permission=permission, expiry=expiry, **signer
        )
        REGISTRY.add(sas)
        return f"{self._client.get_blob_client(key).url}?{sas}"

    def read_key(self, key: str) -> bytes | None:
        return self._read(key)

    def write_key(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> None:
        self._client.upload_blob(key, data, overwrite=True, metadata=dict(metadata or {}))

    def delete_key(self, key: str) -> None:
        self._remove(key)

    def copy_key(self, source: str, key: str, metadata: Mapping[str, str]) -> None:
        """Through this process, in chunks (a server-side Copy Blob would need the source
        reachable by URL, a SAS or the account key, and Azurite cannot copy by a real
        account's URL, so that path could not be tested); a kept checkpoint is copied once."""
        chunks = self._client.download_blob(source).chunks()
        self._client.upload_blob(key, chunks, overwrite=True, metadata=dict(metadata))

    def key_metadata(self, key: str) -> dict[str, str] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            found = self._client.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return {str(k): str(v) for k, v in (found.metadata or {}).items()}

    def failures(self) -> tuple[type[Exception], ...]:
        """Every error of the Azure SDK: the service's refusals, the network, the credentials
        (azure.identity's too)."""
        from azure.core.exceptions import AzureError

        return (AzureError,)

    def list_keys(self, prefix: str) -> list[tuple[str, float]]:
        listed = self._client.list_blobs(name_starts_with=prefix)
        return [(str(blob.name), float(blob.last_modified.timestamp())) for blob in listed]

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
