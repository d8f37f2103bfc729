"""What ``--checkpoint-dir`` needs of an S3 runner registry (checkpoint_urls.KeyStore), at any key
of its bucket: a presigned PUT for the machine's watcher, and the few object operations gc
and ``checkpoint restore`` use to move the archive. A mixin of store.S3Store, kept apart so
that the registry's own module stays about its records and locks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class S3Keys:
    bucket: str
    region: str
    endpoint: str | None
    _s3: Any

    def presign_put(self, key: str, seconds: int) -> str:
        """A SigV4 PUT URL (its expiry in seconds, at most 7 days; every region accepts it,
        unlike boto3's default for S3 presigning). Signed locally with the launcher's keys."""
        import boto3
        from botocore.config import Config

        signer = boto3.client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint,
            config=Config(signature_version="s3v4"),
        )
        return str(
            signer.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
            )
        )

    def put_headers(self) -> tuple[str, ...]:
        return ()  # a plain PUT of the body

    def read_key(self, key: str) -> bytes | None:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self._s3.exceptions.NoSuchKey:
            return None
        return bytes(body.read())

    def write_key(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> None:
        extra = {"Metadata": dict(metadata)} if metadata else {}
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def delete_key(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)  # idempotent

    def copy_key(self, source: str, key: str, metadata: Mapping[str, str]) -> None:
        self._s3.copy_object(
            Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source},
            Metadata=dict(metadata), MetadataDirective="REPLACE",
        )  # fmt: skip

    def key_metadata(self, key: str) -> dict[str, str] | None:
        """The object's metadata; None when there is no object."""
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return {str(k): str(v) for k, v in head.get("Metadata", {}).items()}

    def failures(self) -> tuple[type[Exception], ...]:
        """The service's refusals, and botocore's own: the network, the credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        return (ClientError, BotoCoreError)

    def list_keys(self, prefix: str) -> list[tuple[str, float]]:
        """(key, last modified as a Unix time) of every object under ``prefix``."""
        found = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", []):
                found.append((str(item["Key"]), float(item["LastModified"].timestamp())))
        return found
