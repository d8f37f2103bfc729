"""SSH client rows in ``cmlinfra doctor``.

cmlinfra speaks SSH itself (paramiko) with the ed25519 keys it generates per stack, so the row
that matters is that paramiko and its crypto backend can make and load such a key: a broken
``cryptography`` wheel shows here, not halfway through a launch. The OpenSSH ``ssh`` command is
only for logging in to a runner by hand, so its row is a warning.
"""

from __future__ import annotations

import shutil

from cmlinfra.doctor import Check, CheckFn, Options


def check_ssh_client(options: Options) -> list[Check]:
    import io

    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    fix = "reinstall cmlinfra's dependencies (pip install --force-reinstall paramiko cryptography)"
    try:
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))
    except Exception as exc:  # any failure here means no runner can be reached
        return [Check("ssh client", False, f"paramiko cannot use ed25519 keys: {exc}", fix)]
    rows = [Check("ssh client", True, f"paramiko {paramiko.__version__} with ed25519 keys")]
    openssh = shutil.which("ssh")
    rows.append(
        Check(
            "ssh command",
            openssh is not None,
            f"OpenSSH client at {openssh}" if openssh else "no ssh command on PATH",
            "" if openssh else "install openssh-client to log in to runners by hand",
            required=False,
        )
    )
    return rows


CHECKS: list[CheckFn] = [check_ssh_client]
