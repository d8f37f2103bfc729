"""The ssh cloud's harness: an existing machine, so no inventory and no images; the errors
are the bootstrap's, run against a real OpenSSH sshd here."""

from __future__ import annotations

import secrets

import pytest

from cmlinfra.clouds.base import ErrorKind, MachineRequest
from tests.clouds.contract.kit import ErrorSample, Harness

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ5bMgD0aRVMZgTmHHkf0PcgbEFf8Rsd3h7ZeuQD8mH"
SEEN = "cmlinfra bootstrap against a real OpenSSH 9.2 sshd on 127.0.0.1, 2026-12-04"


@pytest.fixture(scope="module")
def ssh_harness() -> Harness:
    prefix = f"cmlc-{secrets.token_hex(2)}-"

    def request(**kw: object) -> MachineRequest:
        return MachineRequest(
            **{"name": f"{prefix}host", "host": "192.0.2.10", "host_key": HOST_KEY, **kw}  # type: ignore[arg-type]
        )

    outputs = {
        "address": "192.0.2.10",
        "instance_id": "ci@192.0.2.10:22",
        "ssh_user": "ci",
        "ssh_port": 22,
        "host_key": HOST_KEY,
    }
    return Harness(
        cloud="ssh",
        prefix=prefix,
        request=request(),
        bad=[
            (request(host=None), "the ssh cloud needs --host"),
            (request(host_key="AAAA"), "the ssh cloud needs the machine's host key"),
            (request(gpu="t4"), "--cloud-gpu is not supported by the ssh cloud"),
            (request(port=0), "--port 0 is not a TCP port"),
        ],
        inject=lambda text: request(user=text),
        errors=[
            ErrorSample(
                "SSH to root@127.0.0.1:22778 failed after 2 attempts: connection refused; check "
                "that the host is up, the port is open to this machine and /tmp/k is authorized "
                "for root (or raise --wait)",
                ErrorKind.TRANSIENT,
                f"{SEEN} (nothing listening on the port)",
            ),
            ErrorSample(
                "SSH to root@127.0.0.1:22777 failed after 3 attempts: key not accepted yet; "
                "check that the host is up, the port is open to this machine and /tmp/k is "
                "authorized for root (or raise --wait)",
                ErrorKind.AUTH,
                f"{SEEN} (a key the host does not authorize)",
            ),
            ErrorSample(
                "host key of [127.0.0.1]:22777 does not match: expected SHA256:XP8E/VPvnRAH3bkq1Z"
                "aVvgxTjsAWm3JJrsxLRO/raa4 (from --host-key-fingerprint), presented ssh-ed25519 "
                "SHA256:YZFBqUJmlondSQ83CtTAgM4rtoKlt3X92HC+PVZnYQY; refusing to connect",
                ErrorKind.AUTH,
                f"{SEEN} (another host key than the one given)",
            ),
        ],
        address_case=lambda: (outputs, (HOST_KEY,)),
    )
