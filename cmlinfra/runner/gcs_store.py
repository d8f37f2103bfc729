"""The runner registry on Google Cloud Storage (``--state gs://bucket/prefix``), so a GCP-only
team needs no AWS account. Same layout and guarantees as the S3 store (runner/store.py):
``PREFIX/NAME/runner.json``, ``launcher.lock``, and terraform's own state, which the ``gcs``
backend keeps in ``PREFIX/NAME/default.tfstate``. A lock is created with
``ifGenerationMatch=0`` (only if no object exists), so two launchers can never both own a name.
Credentials come from ADC (``GOOGLE_APPLICATION_CREDENTIALS``, workload identity federation,
gcloud); ``STORAGE_EMULATOR_HOST`` or ``?endpoint=`` points it at another server.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.records import LockInfo, RunnerRecord

RECORD, LOCK, STACK = "runner.json", "launcher.lock", "stack.tar.gz"
TFSTATE = "default.tfstate"  # the gcs backend's name for the default workspace's state
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
SIGN_FIX = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key, or use a service account "
    "(workload identity federation with impersonation, GCE) that has "
    "roles/iam.serviceAccountTokenCreator on itself"
)


@dataclass
class GcsStore:
    bucket: str
    prefix: str
    endpoint: str | None = None
    url: str = ""
    _bucket: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            from google.cloud import storage
        except ImportError:
            raise CmlinfraError(
                "--state gs:// needs Google's client libraries",
                "install cmlinfra[gcp] (pip install 'cmlinfra[gcp]')",
            ) from None
        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        client = storage.Client(client_options=options)
        self._bucket = client.bucket(self.bucket)

    def _key(self, name: str, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, name, leaf) if p)

    def _read(self, key: str) -> str | None:
        from google.api_core.exceptions import NotFound

        try:
            return str(self._bucket.blob(key).download_as_text())
        except NotFound:
            return None

    def _delete(self, key: str) -> None:
        from google.api_core.exceptions import NotFound

        with suppress(NotFound):  # idempotent: already gone
            self._bucket.blob(key).delete()

    def _names_with(self, leaf: str) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        found = []
        for blob in self._bucket.client.list_blobs(self._bucket, prefix=start):
            rest = blob.name[len(start) :].split("/")
            if len(rest) == 2 and rest[1] == leaf:
                found.append(rest[0])
        return sorted(found)

    def names(self) -> list[str]:
        return self._names_with(RECORD)

    def get(self, name: str) -> RunnerRecord | None:
        text = self._read(self._key(name, RECORD))
        return None if text is None else RunnerRecord.from_json(text)

    def put(self, record: RunnerRecord) -> None:
        blob = self._bucket.blob(self._key(record.name, RECORD))
        blob.upload_from_string(record.to_json(), content_type="application/json")

    def delete(self, name: str) -> None:
        # the state is empty: its stack was destroyed; a reclaim's checkpoint (checkpoints.py)
        for leaf in (TFSTATE, STACK, "checkpoint.tgz", "checkpoint.env", RECORD):
            self._delete(self._key(name, leaf))

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._bucket.blob(self._key(info.name, LOCK))
        try:
            blob.upload_from_string(
                info.to_json(), content_type="application/json", if_generation_match=0
            )
        except PreconditionFailed:
            return self.read_lock(info.name) or info
        return None

    def read_lock(self, name: str) -> LockInfo | None:
        text = self._read(self._key(name, LOCK))
        return None if text is None else LockInfo.from_json(name, text)

    def unlock(self, name: str) -> None:
        self._delete(self._key(name, LOCK))

    def lock_names(self) -> list[str]:
        return self._names_with(LOCK)

    def put_blob(self, name: str, leaf: str, data: bytes) -> None:
        self._bucket.blob(self._key(name, leaf)).upload_from_string(data)

    def get_blob(self, name: str, leaf: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self._bucket.blob(self._key(name, leaf)).download_as_bytes())
        except NotFound:
            return None

    # what --checkpoint-dir needs at any key of the bucket (checkpoint_urls.KeyStore)

    def presign_put(self, key: str, seconds: int) -> str:
        """A V4 signed PUT URL (at most 7 days). Signed locally with a service-account key, else
        by IAM signBlob as the service account a token stands for (:meth:`_signing`)."""
        from google.auth.exceptions import GoogleAuthError

        base = urlsplit(self._bucket.client._connection.API_BASE_URL)
        signing = self._signing()
        try:
            return str(
                self._bucket.blob(key).generate_signed_url(
                    version="v4", method="PUT", expiration=timedelta(seconds=seconds),
                    api_access_endpoint=f"{base.scheme}://{base.netloc}", **signing,
                )
            )  # fmt: skip
        except GoogleAuthError as exc:  # signBlob refused: no Token Creator role, API off
            raise UsageError(
                f"cannot sign the checkpoint's upload URL for gs://{self.bucket}: "
                f"{' '.join(str(exc).split())[:200]}",
                f"{SIGN_FIX}, or drop --checkpoint-dir",
            ) from None

    def _signing(self) -> dict[str, Any]:
        """How to sign: credentials that hold a key (a service-account key file), or the
        e-mail and token of the service account that a token stands for (GCE's metadata
        server, workload identity federation impersonating a service account), which signs
        through IAM. User credentials cannot sign: a one-line error naming the fix."""
        import google.auth
        from google.auth import credentials as auth
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import Request

        creds = self._bucket.client._credentials
        try:
            if isinstance(creds, auth.AnonymousCredentials):  # an emulator: sign with ADC
                creds, _ = google.auth.default(scopes=[SCOPE])
            if isinstance(creds, auth.Signing):
                return {"credentials": creds}
            if hasattr(creds, "service_account_email"):
                if not creds.valid:  # GCE says "default" until it has asked the metadata server
                    creds.refresh(Request())
                email = creds.service_account_email
                if email and email != "default":
                    return {"service_account_email": email, "access_token": creds.token}
        except GoogleAuthError as exc:
            raise UsageError(
                f"no Google credentials to sign the checkpoint's upload URL: "
                f"{' '.join(str(exc).split())[:200]}",
                f"{SIGN_FIX}, or drop --checkpoint-dir",
            ) from None
        raise UsageError(
            f"the Google credentials here ({type(creds).__name__}) cannot sign the "
            "checkpoint's upload URL: they are no service account's",
            f"{SIGN_FIX}, or drop --checkpoint-dir",
        )

    def put_headers(self) -> tuple[str, ...]:
        return ()  # no content type was signed: a plain PUT of the body

    def read_key(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return bytes(self._bucket.blob(key).download_as_bytes())
        except NotFound:
            return None

    def write_key(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> None:
        blob = self._bucket.blob(key)
        if metadata:
            blob.metadata = dict(metadata)
        blob.upload_from_string(data)

    def delete_key(self, key: str) -> None:
        self._delete(key)

    def copy_key(self, source: str, key: str, metadata: Mapping[str, str]) -> None:
        """A server-side rewrite; a large object takes several calls, each with the token of
        the last."""
        target = self._bucket.blob(key)
        target.metadata = dict(metadata)
        token, _, _ = target.rewrite(self._bucket.blob(source))
        while token is not None:
            token, _, _ = target.rewrite(self._bucket.blob(source), token=token)

    def key_metadata(self, key: str) -> dict[str, str] | None:
        blob = self._bucket.get_blob(key)
        return None if blob is None else {str(k): str(v) for k, v in (blob.metadata or {}).items()}

    def failures(self) -> tuple[type[Exception], ...]:
        """The API's refusals and its retries given up, the credentials, and the transport
        (requests) the client library sends through."""
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from requests import RequestException

        return (GoogleAPIError, GoogleAuthError, RequestException)

    def list_keys(self, prefix: str) -> list[tuple[str, float]]:
        listed = self._bucket.client.list_blobs(self._bucket, prefix=prefix)
        return [(str(blob.name), float(blob.updated.timestamp())) for blob in listed]

    def check(self) -> None:
        """The bucket exists and these credentials may use it: one-line error otherwise."""
        from google.api_core.exceptions import GoogleAPICallError
        from google.auth.exceptions import DefaultCredentialsError

        try:
            exists = self._bucket.exists()
        except DefaultCredentialsError:
            raise CmlinfraError(
                "no Google Cloud credentials found for the gs:// state",
                "set GOOGLE_APPLICATION_CREDENTIALS or authenticate with workload identity "
                "federation",
            ) from None
        except GoogleAPICallError as exc:
            raise CmlinfraError(
                f"cannot use state bucket {self.bucket!r}: {exc.message}",
                "check the credentials (roles/storage.objectAdmin on the bucket)",
            ) from None
        if not exists:
            raise CmlinfraError(
                f"state bucket {self.bucket!r} does not exist",
                f"create it first: gcloud storage buckets create gs://{self.bucket}",
            )


def open_gcs(url: str) -> GcsStore:
    """``gs://bucket/prefix[?endpoint=URL]`` → a checked store (the bucket must exist)."""
    parts = urlsplit(url.strip())
    if not parts.netloc:
        raise UsageError(f"--state {url!r} names no bucket", "write gs://BUCKET/PREFIX")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    store = GcsStore(parts.netloc, parts.path.strip("/"), params.get("endpoint"), url)
    store.check()
    return store
