"""The runner registry: where every launched runner's record, lock and Terraform state live.

``--state`` names it, as for terraform: a local directory (one laptop, one CI job),
``s3://bucket/prefix?region=…`` or ``azurerm://account/container/prefix`` (blobstore.py), so
that parallel CI jobs, later ``runner destroy`` calls and the scheduled ``cmlinfra gc`` all see
the same runners. One runner NAME owns one folder::

    PREFIX/NAME/runner.json        the record (no secrets)
    PREFIX/NAME/launcher.lock      held while a launcher creates or destroys NAME
    PREFIX/NAME/terraform.tfstate  terraform's own state (engine backend, same prefix)

Locks are created atomically (``O_EXCL`` locally, S3 and Azure Blob conditional
``If-None-Match: *``), so
two launchers can never both own a name; a lock left by a killed launcher is found by ``gc``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.records import LockInfo, RunnerRecord, this_holder
from cmlinfra.runner.s3_keys import S3Keys

RECORD = "runner.json"
LOCK = "launcher.lock"
TFSTATE = "terraform.tfstate"
STACK = "stack.tar.gz"  # the synthesized Terraform configuration: a later job can destroy it


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cmlinfra" / "runners"


class RunnerStore(Protocol):
    @property
    def url(self) -> str: ...

    def names(self) -> list[str]: ...
    def get(self, name: str) -> RunnerRecord | None: ...
    def put(self, record: RunnerRecord) -> None: ...
    def delete(self, name: str) -> None: ...
    def try_lock(self, info: LockInfo) -> LockInfo | None:
        """Take the lock, or return the lock that is already there."""
        ...

    def read_lock(self, name: str) -> LockInfo | None: ...
    def unlock(self, name: str) -> None: ...
    def lock_names(self) -> list[str]: ...
    def put_blob(self, name: str, leaf: str, data: bytes) -> None: ...
    def get_blob(self, name: str, leaf: str) -> bytes | None: ...


def records(store: RunnerStore) -> list[RunnerRecord]:
    found = (store.get(name) for name in store.names())
    return sorted((r for r in found if r is not None), key=lambda r: r.created)


def locks(store: RunnerStore) -> list[LockInfo]:
    found = (store.read_lock(name) for name in store.lock_names())
    return [lock for lock in found if lock is not None]


@contextmanager
def holding(store: RunnerStore, name: str, operation: str) -> Iterator[LockInfo]:
    """Own ``name`` for the duration; a second launcher gets a one-line error naming the
    holder. Released on exit (also on errors); a SIGKILLed launcher leaves it for ``gc``."""
    import time

    mine = LockInfo(name=name, holder=this_holder(), operation=operation, since=time.time())
    other = store.try_lock(mine)
    if other is not None:
        raise CmlinfraError(
            f"runner {name!r} is locked by {other.holder} ({other.operation} since "
            f"{time.strftime('%H:%M:%S', time.localtime(other.since))})",
            "wait for it, pick another --name, or run 'cmlinfra gc --yes' if that launcher died",
        )
    try:
        yield mine
    finally:
        current = store.read_lock(name)
        if current is not None and current.holder == mine.holder:
            store.unlock(name)


@dataclass
class LocalStore:
    """A directory; atomic lock creation with ``O_EXCL``."""

    root: Path

    @property
    def url(self) -> str:
        return str(self.root)

    def _dir(self, name: str) -> Path:
        return self.root / name

    def _folder(self, name: str) -> Path:
        """``name``'s folder, created; a registry that cannot be written is a one-line error."""
        folder = self._dir(name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CmlinfraError(
                f"cannot write the runner registry {self.root}: {exc.strerror or exc}",
                "pass --state with a directory you can write (or set XDG_STATE_HOME)",
            ) from None
        return folder

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{RECORD}"))

    def get(self, name: str) -> RunnerRecord | None:
        try:
            return RunnerRecord.from_json((self._dir(name) / RECORD).read_text())
        except FileNotFoundError:
            return None

    def put(self, record: RunnerRecord) -> None:
        folder = self._folder(record.name)
        tmp = folder / f".{RECORD}.{os.getpid()}"
        tmp.write_text(record.to_json())
        tmp.replace(folder / RECORD)  # atomic: readers never see half a record

    def delete(self, name: str) -> None:
        """Forget ``name``; called after its stack is destroyed, so its (now empty) Terraform
        state goes too."""
        for leftover in [*self._dir(name).glob(f"{TFSTATE}*"), self._dir(name) / STACK]:
            leftover.unlink(missing_ok=True)
        (self._dir(name) / RECORD).unlink(missing_ok=True)
        with suppress(OSError):
            self._dir(name).rmdir()  # only when nothing else (state, lock) is left

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        folder = self._folder(info.name)
        try:
            fd = os.open(folder / LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return self.read_lock(info.name) or info
        with os.fdopen(fd, "w") as handle:
            handle.write(info.to_json())
        return None

    def read_lock(self, name: str) -> LockInfo | None:
        try:
            return LockInfo.from_json(name, (self._dir(name) / LOCK).read_text())
        except FileNotFoundError:
            return None

    def unlock(self, name: str) -> None:
        (self._dir(name) / LOCK).unlink(missing_ok=True)
        with suppress(OSError):
            self._dir(name).rmdir()

    def lock_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{LOCK}"))

    def put_blob(self, name: str, leaf: str, data: bytes) -> None:
        (self._folder(name) / leaf).write_bytes(data)

    def get_blob(self, name: str, leaf: str) -> bytes | None:
        try:
            return (self._dir(name) / leaf).read_bytes()
        except FileNotFoundError:
            return None


@dataclass
class S3Store(S3Keys):
    """A bucket prefix shared by every CI job; atomic locks with S3 conditional writes. The
    checkpoints' key operations are S3Keys'."""

    bucket: str
    prefix: str
    region: str
    endpoint: str | None = None
    url: str = ""

    def __post_init__(self) -> None:
        import boto3

        self._s3: Any = boto3.client("s3", region_name=self.region, endpoint_url=self.endpoint)

    def _key(self, name: str, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, name, leaf) if p)

    def _read(self, key: str) -> str | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self._s3.exceptions.NoSuchKey:
            return None
        return str(body.read().decode())

    def _names_with(self, leaf: str) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        ):
            for item in page.get("Contents", []):
                rest = item["Key"][len(start) :].split("/")
                if len(rest) == 2 and rest[1] == leaf:
                    found.append(rest[0])
        return sorted(found)

    def names(self) -> list[str]:
        return self._names_with(RECORD)

    def get(self, name: str) -> RunnerRecord | None:
        text = self._read(self._key(name, RECORD))
        return None if text is None else RunnerRecord.from_json(text)

    def put(self, record: RunnerRecord) -> None:
        self._s3.put_object(
            Bucket=self.bucket, Key=self._key(record.name, RECORD), Body=record.to_json().encode()
        )

    def delete(self, name: str) -> None:
        # the state is empty: its stack was destroyed; a reclaim's checkpoint (checkpoints.py)
        leaves = (TFSTATE, STACK, "checkpoint.tgz", "checkpoint.env", RECORD)
        for leaf in leaves:
            self._s3.delete_object(Bucket=self.bucket, Key=self._key(name, leaf))

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        from botocore.exceptions import ClientError

        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self._key(info.name, LOCK),
                Body=info.to_json().encode(),
                IfNoneMatch="*",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}:
                return self.read_lock(info.name) or info
            raise
        return None

    def read_lock(self, name: str) -> LockInfo | None:
        text = self._read(self._key(name, LOCK))
        return None if text is None else LockInfo.from_json(name, text)

    def unlock(self, name: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(name, LOCK))

    def lock_names(self) -> list[str]:
        return self._names_with(LOCK)

    def put_blob(self, name: str, leaf: str, data: bytes) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=self._key(name, leaf), Body=data)

    def get_blob(self, name: str, leaf: str) -> bytes | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=self._key(name, leaf))["Body"]
        except self._s3.exceptions.NoSuchKey:
            return None
        return bytes(body.read())


def open_store(url: str | None) -> RunnerStore:
    """``--state`` → store: ``s3://bucket/prefix?region=…&endpoint=…`` or a directory (the
    default is ``$XDG_STATE_HOME/cmlinfra/runners``). The query parameters are the engine's
    (``lock``/``table`` concern terraform's own lock and are ignored here)."""
    if not url:
        return LocalStore(default_state_dir())
    parts = urlsplit(url.strip())
    if parts.scheme == "s3":
        if not parts.netloc:
            raise UsageError(f"--state {url!r} names no bucket", "write s3://BUCKET/PREFIX")
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        region = (
            params.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        if not region:
            raise UsageError(f"--state {url!r} has no region", "add ?region=REGION to --state")
        store = S3Store(parts.netloc, parts.path.strip("/"), region, params.get("endpoint"), url)
        _check_bucket(store)
        return store
    if parts.scheme == "gs":
        from cmlinfra.runner.gcs_store import open_gcs

        return open_gcs(url)
    if parts.scheme == "azurerm":
        from cmlinfra.runner.blobstore import open_blob_store

        return open_blob_store(url)
    if parts.scheme in ("", "file"):
        return LocalStore(
            Path(parts.path if parts.scheme == "file" else url).expanduser().absolute()
        )
    raise UsageError(
        f"--state scheme {parts.scheme!r} is not supported",
        "use s3://, gs://, azurerm:// or a path",
    )


def _check_bucket(store: S3Store) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        store._s3.head_bucket(Bucket=store.bucket)
    except (ClientError, BotoCoreError) as exc:
        raise CmlinfraError(
            f"cannot use state bucket {store.bucket!r}: {exc}",
            "create the bucket (and check the AWS credentials and region) first",
        ) from None
