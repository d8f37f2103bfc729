"""The registry side of ``runner launch --checkpoint-dir`` (checkpoints.py): the few operations
every runner registry offers at any key under its prefix (:class:`KeyStore`: S3Store through
s3_keys.py, GcsStore, BlobStore), and the presigned PUT URLs the reclaimed machine's watcher
uploads through, which are bearer credentials: each is registered as a secret, with its query
and its signature, so a log line holding any of them is masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from cmlinfra.errors import UsageError

ARCHIVE = "checkpoint.tgz"
ABOUT = "checkpoint.env"  # run_id=, job=, at= lines the watcher writes next to the archive
MAX_EXPIRY = 7 * 24 * 3600  # the longest a SigV4 or GCS V4 URL (or a delegation SAS) lives
SIGNATURES = ("X-Amz-Signature", "X-Goog-Signature", "sig")  # S3's, GCS's, a SAS's


@runtime_checkable
class KeyStore(Protocol):
    """What checkpoints need of a runner registry, at any key under its prefix: S3Store
    (s3_keys.py), GcsStore, BlobStore. A local registry has none: no machine reaches it."""

    prefix: str

    def presign_put(self, key: str, seconds: int) -> str:
        """A URL that lets whoever holds it PUT ``key`` for ``seconds``; a UsageError naming
        the fix when these credentials cannot sign one."""
        ...

    def put_headers(self) -> tuple[str, ...]:
        """``Name: value`` headers that such a PUT must carry."""
        ...

    def read_key(self, key: str) -> bytes | None: ...
    def write_key(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None: ...
    def delete_key(self, key: str) -> None:
        """Idempotent: nothing there is fine."""
        ...

    def copy_key(self, source: str, key: str, metadata: Mapping[str, str]) -> None:
        """``key``'s metadata replaced by ``metadata`` (server-side, but Azure's)."""
        ...

    def key_metadata(self, key: str) -> dict[str, str] | None:
        """None when there is no object at ``key``."""
        ...

    def list_keys(self, prefix: str) -> list[tuple[str, float]]:
        """(key, last modified as a Unix time) under ``prefix``."""
        ...

    def failures(self) -> tuple[type[Exception], ...]:
        """What its calls raise when the registry cannot answer (the service refused, the
        network, the credentials): a caller that can do without the answer catches these
        only, so that a bug (a TypeError) still surfaces."""
        ...


def key_store(store: Any) -> KeyStore | None:
    return store if isinstance(store, KeyStore) else None


def _uploadable(store: Any) -> KeyStore:
    """``store`` as a KeyStore; checkpoints.check() refused any other registry already."""
    keys = key_store(store)
    if keys is None:
        raise UsageError(
            "--checkpoint-dir needs an s3://, gs:// or azurerm:// registry", "add --state s3://…"
        )
    return keys


def runner_key(store: KeyStore, name: str, leaf: str) -> str:
    return "/".join(p for p in (store.prefix, name, leaf) if p)


def check_store(store: Any) -> None:
    """Before anything is created: these credentials can presign for this registry (a GCS
    token of no service account, an Azure principal without a delegation key cannot)."""
    keys = _uploadable(store)
    _secret(keys.presign_put(runner_key(keys, ".signing-check", ARCHIVE), 60))


def _secret(url: str) -> str:
    from cmlinfra.secrets import REGISTRY

    REGISTRY.add(url)
    query = urlsplit(url).query
    REGISTRY.add(query)
    for name, value in (part.partition("=")[::2] for part in query.split("&")):
        if name in SIGNATURES:  # the signature, wherever the URL is cut (and decoded)
            REGISTRY.add(value)
            REGISTRY.add(unquote(value))
    return url


def presign(store: Any, name: str, ttl: int) -> tuple[str, str]:
    """PUT URLs for ``NAME/checkpoint.tgz`` and ``NAME/checkpoint.env``, valid for the
    runner's life (its max TTL; else, and at most, 7 days). Bearer credentials: registered as
    secrets, so that a log line holding one is masked."""
    keys = _uploadable(store)
    expiry = min(ttl, MAX_EXPIRY) if ttl > 0 else MAX_EXPIRY
    archive, about = (
        _secret(keys.presign_put(runner_key(keys, name, leaf), expiry)) for leaf in (ARCHIVE, ABOUT)
    )
    return archive, about


def url_file(store: Any, name: str, ttl: int) -> str:
    """The watcher's URL file: the archive's URL, the description's, then the headers every
    PUT carries (Azure's blob type), one a line."""
    urls = presign(store, name, ttl)
    headers = _uploadable(store).put_headers()
    return "".join(f"{line}\n" for line in (*urls, *headers))
