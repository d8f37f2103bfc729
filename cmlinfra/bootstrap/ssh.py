"""SSH to a machine: :func:`connect` gives the paramiko implementation of
:class:`~cmlinfra.bootstrap.transport.Transport` (:mod:`.dial` reaches the host,
:mod:`.session` runs things on it).

New instances take tens of seconds to answer SSH, so :func:`connect` waits with backoff up to a
deadline; host keys are verified (see :mod:`cmlinfra.bootstrap.hostkeys`); every command runs as
root through non-interactive ``sudo`` for other users, under a remote ``timeout`` as well as a
local deadline, with its output streamed line by line.
"""

from __future__ import annotations

import time

from cmlinfra.bootstrap.dial import Progress, SshTarget, load_key, open_client
from cmlinfra.bootstrap.session import SshTransport

__all__ = ["SshTarget", "SshTransport", "connect"]


def connect(target: SshTarget, *, wait: float = 300.0, say: Progress | None = None) -> SshTransport:
    """Wait up to ``wait`` seconds for SSH, verify the host key, log in with the key and check
    that root is reachable (``sudo -n`` for a non-root user)."""
    pkey = load_key(target.key)
    say = say or (lambda _message: None)
    client = open_client(target, pkey, time.monotonic() + wait, say)
    ssh = SshTransport(target, client, pkey, say)
    ssh.check_root()
    return ssh
