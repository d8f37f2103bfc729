"""The runner registries a reclaimed machine can upload its checkpoint to, each on a real
server: S3 (moto), Cloud Storage (fake-gcs-server), Azure Blob Storage (Azurite behind its
TLS proxy). :func:`registry` makes an empty one for a test and returns its ``--state``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

KINDS = ["s3", "gs", "azurerm"]


def service_account_key(
    directory: Path, email: str = "ckpt@cml-test.iam.gserviceaccount.com"
) -> Path:
    """A service-account key file made here, as ADC finds it: V4 URLs are signed with it
    locally (nothing is sent anywhere with it: the emulator's client uses no credentials)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    info = {
        "type": "service_account", "project_id": "cml-test", "private_key_id": "k1",
        "private_key": pem, "client_email": email, "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }  # fmt: skip
    path = directory / "service-account.json"
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


def registry(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """An empty registry of ``kind`` on its server, this process (and the CLI subprocesses it
    starts) set up to reach it; its ``--state`` URL with the prefix ``reg``."""
    if kind == "s3":
        moto = request.getfixturevalue("moto")
        moto.client("s3").create_bucket(Bucket="ckpt-reg")
        return f"s3://ckpt-reg/reg?region=us-east-1&endpoint={moto.endpoint}"
    if kind == "gs":
        server = request.getfixturevalue("gcs_server")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_key(tmp_path)))
        return f"gs://{server.bucket()}/reg"
    azurite = request.getfixturevalue("azurite")
    for key, value in azurite.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CURL_CA_BUNDLE", str(azurite.cert))  # the watcher's curl
    name = "".join(c for c in request.node.name.lower() if c.isalnum())[-40:]
    azurite.container(name)
    request.addfinalizer(lambda: _no_refused(azurite))
    return f"azurerm://devstoreaccount1/{name}/reg"


def _no_refused(azurite) -> None:  # type: ignore[no-untyped-def]
    assert azurite.proxy.refused == [], "only the blob endpoint may be reached"
