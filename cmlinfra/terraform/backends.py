"""Where terraform keeps state, rendered for the exact binary that will read it.

The S3 backend is built into terraform (no provider download), but its options changed in 1.6
(``endpoints {}``, ``use_path_style``) and lockfile locking only exists from 1.10 (tofu 1.8), so
one static block cannot serve every supported version: :meth:`Backend.block` takes the binary.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.terraform.binary import TerraformBinary

DEFAULT_LOCK_TABLE = "cmlinfra-locks"
STATE_FILE = "terraform.tfstate"
BACKEND_FILE = "backend.tf.json"

LockMode = Literal["dynamodb", "lockfile"]


class Backend(Protocol):
    """A terraform backend: the ``terraform { backend { ... } }`` block for one binary."""

    def block(self, binary: TerraformBinary) -> dict[str, Any]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class LocalBackend:
    """State in a local file: for a laptop, a single CI job, and the tests."""

    path: Path

    def block(self, binary: TerraformBinary) -> dict[str, Any]:
        return {"local": {"path": str(Path(self.path).absolute())}}

    def describe(self) -> str:
        return f"local state {self.path}"


@dataclass(frozen=True)
class S3Backend:
    """State in S3, locked with a DynamoDB item (every version) or an S3 lockfile (>= 1.10).

    ``endpoint`` points both S3 and DynamoDB at an S3-compatible server (moto, MinIO); it also
    turns on path-style addressing and skips the AWS-only account and region checks.
    """

    bucket: str
    key: str
    region: str
    lock: LockMode = "dynamodb"
    dynamodb_table: str | None = None
    endpoint: str | None = None
    max_retries: int | None = None  # AWS API retries; None: terraform's default (5)

    @property
    def lock_table(self) -> str:
        return self.dynamodb_table or DEFAULT_LOCK_TABLE

    def block(self, binary: TerraformBinary) -> dict[str, Any]:
        modern = binary.at_least(terraform=(1, 6, 0), tofu=(1, 6, 0))
        config: dict[str, Any] = {
            "bucket": self.bucket,
            "key": self.key,
            "region": self.region,
            "encrypt": True,
        }
        if self.max_retries is not None:
            config["max_retries"] = self.max_retries
        if self.lock == "lockfile":
            if not binary.at_least(terraform=(1, 10, 0), tofu=(1, 8, 0)):
                raise CmlinfraError(
                    f"S3 lockfile locking needs terraform >= 1.10 or tofu >= 1.8, "
                    f"not {binary.flavor} {binary.version_text}",
                    "lock with DynamoDB instead (lock=dynamodb in --state) or upgrade terraform",
                )
            config["use_lockfile"] = True
        else:
            config["dynamodb_table"] = self.lock_table
        if self.endpoint:
            config.update(
                skip_credentials_validation=True,
                skip_metadata_api_check=True,
                skip_region_validation=True,
            )
            if modern:
                config["endpoints"] = {"s3": self.endpoint, "dynamodb": self.endpoint}
                config["use_path_style"] = True
                config["skip_requesting_account_id"] = True
            else:
                config["endpoint"] = self.endpoint
                config["dynamodb_endpoint"] = self.endpoint
                config["force_path_style"] = True
        return {"s3": config}

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        lock = "S3 lockfile" if self.lock == "lockfile" else f"DynamoDB table {self.lock_table}"
        return f"s3://{self.bucket}/{self.key} ({self.region}{where}, locked by {lock})"


def write_backend(workdir: Path, backend: Backend, binary: TerraformBinary) -> Path:
    """Write ``backend.tf.json`` into ``workdir`` (for callers that don't compose with cdktn)."""
    path = Path(workdir) / BACKEND_FILE
    path.write_text(json.dumps({"terraform": {"backend": backend.block(binary)}}, indent=2) + "\n")
    return path


_S3_PARAMS = {"region", "lock", "table", "endpoint"}


def _state_key(prefix: str, name: str | None) -> str:
    prefix = prefix.strip("/")
    if prefix.endswith(".tfstate"):
        return prefix
    parts = [p for p in (prefix, name, STATE_FILE) if p]
    return "/".join(parts)


def parse_state_url(url: str, *, name: str | None = None) -> Backend:
    """``--state`` → backend. ``s3://bucket/prefix?region=eu-west-1&lock=lockfile`` (also
    ``table=`` for the DynamoDB lock table and ``endpoint=`` for an S3-compatible server) or a
    local path. A prefix not ending in ``.tfstate`` gets ``[/name]/terraform.tfstate`` appended,
    so one ``--state`` can hold the state of many stacks."""
    url = url.strip()
    fix = "write --state as s3://BUCKET/PREFIX?region=REGION or a local path"
    if not url:
        raise UsageError("--state is empty", fix)
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise UsageError(f"--state {url!r} names no bucket", fix)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        unknown = sorted(set(params) - _S3_PARAMS)
        if unknown:
            raise UsageError(
                f"--state {url!r} has unknown parameter {unknown[0]!r}",
                f"use only {', '.join(sorted(_S3_PARAMS))}",
            )
        region = (
            params.get("region")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        if not region:
            raise UsageError(f"--state {url!r} has no region", "add ?region=REGION to --state")
        lock = params.get("lock", "dynamodb")
        if lock not in ("dynamodb", "lockfile"):
            raise UsageError(
                f"--state lock={lock!r} is unknown", "use lock=dynamodb or lock=lockfile"
            )
        return S3Backend(
            bucket=parts.netloc,
            key=_state_key(parts.path, name),
            region=region,
            lock="lockfile" if lock == "lockfile" else "dynamodb",
            dynamodb_table=params.get("table") or None,
            endpoint=params.get("endpoint") or None,
        )
    if parts.scheme in ("", "file"):
        raw = Path(parts.path if parts.scheme == "file" else url).expanduser()
        if raw.suffix == ".tfstate":
            return LocalBackend(raw.absolute())
        return LocalBackend((raw / name / STATE_FILE if name else raw / STATE_FILE).absolute())
    raise UsageError(f"--state scheme {parts.scheme!r} is not supported", fix)


def configured_backend(workdir: Path) -> str:
    """The backend type configured in a stack directory (``s3``, ``local``…), for error
    messages; "" when none is found."""
    for path in sorted(Path(workdir).glob("*.tf.json")):
        try:
            backend = json.loads(path.read_text()).get("terraform", {}).get("backend")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(backend, dict) and backend:
            return str(next(iter(backend)))
    return ""
