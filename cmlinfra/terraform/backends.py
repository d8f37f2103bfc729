"""Where terraform keeps state, rendered for the exact binary that will read it.

The S3 and azurerm backends are built into terraform (no provider download). S3's options
changed in 1.6 (``endpoints {}``, ``use_path_style``) and lockfile locking only exists from 1.10
(tofu 1.8), so one static block cannot serve every supported version: :meth:`Backend.block`
takes the binary.
"""

from __future__ import annotations

import json
import os
import re
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


@dataclass(frozen=True)
class GcsBackend:
    """State in Google Cloud Storage. The ``gcs`` backend locks natively (a lock object
    created only if absent), so parallel jobs need nothing else. Credentials come from the
    environment (ADC, ``GOOGLE_APPLICATION_CREDENTIALS``, workload identity federation), never
    from this block. ``endpoint`` is ``storage_custom_endpoint`` (a Private Service Connect
    endpoint, or a local emulator), which terraform has from 1.4 on."""

    bucket: str
    prefix: str
    endpoint: str | None = None

    def block(self, binary: TerraformBinary) -> dict[str, Any]:
        config: dict[str, Any] = {"bucket": self.bucket, "prefix": self.prefix}
        if self.endpoint:
            if not binary.at_least(terraform=(1, 4, 0), tofu=(1, 6, 0)):
                raise CmlinfraError(
                    f"the gcs backend's storage_custom_endpoint needs terraform >= 1.4, "
                    f"not {binary.flavor} {binary.version_text}",
                    "drop endpoint= from --state or upgrade terraform",
                )
            config["storage_custom_endpoint"] = self.endpoint
        return {"gcs": config}

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"gs://{self.bucket}/{self.prefix}{where} (locked by the gcs backend)"


@dataclass(frozen=True)
class AzurermBackend:
    """State in Azure Blob Storage, locked with a blob lease (terraform's azurerm backend,
    built into terraform: no provider download). The account key comes from
    ``$ARM_ACCESS_KEY`` when set and is never written here; otherwise Azure AD
    (``use_azuread_auth``: OIDC, managed identity, the Azure CLI — the principal needs
    *Storage Blob Data Contributor*)."""

    storage_account: str
    container: str
    key: str

    def block(self, binary: TerraformBinary) -> dict[str, Any]:
        config: dict[str, Any] = {
            "storage_account_name": self.storage_account,
            "container_name": self.container,
            "key": self.key,
        }
        if not os.environ.get("ARM_ACCESS_KEY", "").strip():
            config["use_azuread_auth"] = True
        return {"azurerm": config}

    def describe(self) -> str:
        return (
            f"azurerm://{self.storage_account}/{self.container}/{self.key} "
            "(Azure Blob Storage, locked by a blob lease)"
        )


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
    fix = (
        "write --state as s3://BUCKET/PREFIX?region=REGION, gs://BUCKET/PREFIX, "
        "azurerm://ACCOUNT/CONTAINER/PREFIX or a local path"
    )
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
    if parts.scheme == "gs":
        return _gcs(url, parts.netloc, parts.path, parts.query, name, fix)
    if parts.scheme == "azurerm":
        return _azurerm(url, name)
    if parts.scheme in ("", "file"):
        raw = Path(parts.path if parts.scheme == "file" else url).expanduser()
        if raw.suffix == ".tfstate":
            return LocalBackend(raw.absolute())
        return LocalBackend((raw / name / STATE_FILE if name else raw / STATE_FILE).absolute())
    raise UsageError(f"--state scheme {parts.scheme!r} is not supported", fix)


def _gcs(url: str, bucket: str, path: str, query: str, name: str | None, fix: str) -> GcsBackend:
    """``gs://bucket/prefix[?endpoint=URL]``: the gcs backend's ``prefix`` is a directory
    (state in ``PREFIX[/NAME]/default.tfstate``), so one ``--state`` holds many stacks."""
    if not bucket:
        raise UsageError(f"--state {url!r} names no bucket", fix)
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(params) - {"endpoint"})
    if unknown:
        raise UsageError(
            f"--state {url!r} has unknown parameter {unknown[0]!r}", "use only endpoint="
        )
    prefix = "/".join(p for p in (path.strip("/"), name) if p)
    return GcsBackend(bucket=bucket, prefix=prefix, endpoint=params.get("endpoint") or None)


ACCOUNT = re.compile(r"^[a-z0-9]{3,24}\Z")
CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}\Z")


def azurerm_location(url: str) -> tuple[str, str, str]:
    """``azurerm://ACCOUNT/CONTAINER/PREFIX`` → (account, container, prefix), checked. The
    registry (runner/blobstore.py) and terraform's state share the container."""
    parts = urlsplit(url.strip())
    container, _, prefix = parts.path.strip("/").partition("/")
    fix = "write azurerm://ACCOUNT/CONTAINER/PREFIX"
    if parts.query:
        raise UsageError(f"--state {url!r} has parameters; azurerm:// takes none", fix)
    if not ACCOUNT.match(parts.netloc):
        raise UsageError(
            f"--state {url!r}: {parts.netloc!r} is not a storage account name",
            f"{fix} (account: 3-24 lowercase letters and digits)",
        )
    if not CONTAINER.match(container):
        raise UsageError(
            f"--state {url!r}: {container!r} is not a blob container name",
            f"{fix} (container: 3-63 lowercase letters, digits and single dashes)",
        )
    return parts.netloc, container, prefix.strip("/")


def _azurerm(url: str, name: str | None) -> Backend:
    account, container, prefix = azurerm_location(url)
    return AzurermBackend(account, container, _state_key(prefix, name))


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
