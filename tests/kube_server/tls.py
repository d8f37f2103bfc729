"""A self-signed certificate for 127.0.0.1: kubectl (client-go) sends a bearer token only over
TLS, so the fake serves HTTPS and the kubeconfig carries this certificate as its CA."""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from tests import tls


def self_signed() -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for 127.0.0.1 and localhost, valid for a day."""
    return tls.self_signed("kube-fake", dns=("localhost",), days=1)


def server_context(cert: bytes, key: bytes) -> ssl.SSLContext:
    folder = Path(tempfile.mkdtemp(prefix="kube-fake-tls-"))
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    (folder / "key.pem").chmod(0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    context.set_alpn_protocols(["http/1.1"])
    return context
