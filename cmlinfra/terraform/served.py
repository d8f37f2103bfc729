"""Serving a stack's providers to terraform once per command, not once per phase.

One ``terraform apply`` starts each provider afresh for every phase: reading its schema,
validating, planning, applying. Every start pays the process start-up plus a new mutual-TLS
certificate and handshake (~70 ms each on the LXD provider, seconds on the AWS one), and a
``--count 4`` launch pays it sixteen times on the same two cores. Terraform can instead be
pointed at provider processes that already run (``TF_REATTACH_PROVIDERS``, its documented way
to attach a provider that runs under a debugger): :func:`served` starts each provider that the
stack's ``init`` installed once, hands terraform their addresses, and stops them after the
command has ended (terraform's own clean stop on Ctrl-C included).

What stays the same: the very binaries ``init`` installed and checked against the lock file,
the environment terraform would give them (credentials reach them there, never as an
argument), their working directory, and their log where ``TF_LOG`` asks for it. What differs:
the connection is a Unix socket inside a directory only this user can enter, with no TLS on it
(the TLS guarded against the same user). A provider that does not start, or a directory layout
this module does not know, is left to terraform to start itself, so serving can make a command
faster but never fail it. ``CMLINFRA_SERVE_PROVIDERS=0`` turns it off, and a
``TF_REATTACH_PROVIDERS`` of the user's own (a provider under a debugger) is left alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cmlinfra.terraform.process import stop_group
from cmlinfra.trace import span

log = logging.getLogger("cmlinfra.terraform")

ENV_VAR = "CMLINFRA_SERVE_PROVIDERS"
REATTACH_VAR = "TF_REATTACH_PROVIDERS"
# The plugin handshake terraform itself sends every provider it starts: the cookie is a fixed
# public constant of the protocol (it only tells a provider binary it runs under terraform).
HANDSHAKE_ENV = {
    "TF_PLUGIN_MAGIC_COOKIE": "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
    "PLUGIN_PROTOCOL_VERSIONS": "5,6",
    "PLUGIN_MIN_PORT": "10000",
    "PLUGIN_MAX_PORT": "25000",
}
START_TIMEOUT_S = 60.0  # a large provider on a loaded machine; past it terraform starts it
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class Provider:
    """One installed provider: its registry address and the binary ``init`` put there."""

    address: str  # registry.terraform.io/terraform-lxd/lxd
    binary: Path


def installed(workdir: Path) -> list[Provider]:
    """The providers ``init`` installed in ``workdir`` (``.terraform/providers/HOST/NAMESPACE/
    TYPE/VERSION/OS_ARCH/terraform-provider-*``). A provider found in more than one version or
    platform is left out: which one the lock file selects is terraform's to say."""
    root = workdir / ".terraform" / "providers"
    found: dict[str, list[Path]] = {}
    for binary in root.glob("*/*/*/*/*/terraform-provider-*"):
        if binary.is_file() and os.access(binary, os.X_OK):
            address = "/".join(binary.relative_to(root).parts[:3])
            found.setdefault(address, []).append(binary)
    return [Provider(a, paths[0]) for a, paths in sorted(found.items()) if len(paths) == 1]


def enabled(env: Mapping[str, str]) -> bool:
    """Not turned off, and no reattach setting of the user's own (a provider under a
    debugger) that ours would replace."""
    off = env.get(ENV_VAR, "1").strip().lower() in ("0", "false", "no", "off")
    return not off and not env.get(REATTACH_VAR)


@dataclass(frozen=True)
class Attachment:
    """What terraform's process gets: ``env`` points it at the served providers, and ``fds``
    (to keep open in it) holds their lifeline, so they outlive neither it nor this process."""

    env: dict[str, str] = field(default_factory=dict)
    fds: tuple[int, ...] = ()


def for_command(
    command: str, workdir: Path, env: Mapping[str, str]
) -> contextlib.AbstractContextManager[Attachment]:
    """:func:`served` where terraform would start the providers once per phase (plan and
    apply); other commands start none, or one, and get nothing."""
    if command in ("plan", "apply"):
        return served(workdir, env)
    return contextlib.nullcontext(Attachment())


@contextlib.contextmanager
def served(workdir: Path, env: Mapping[str, str]) -> Iterator[Attachment]:
    """Start the installed providers of ``workdir`` with ``env`` (all at once: a large one
    takes a second to load); yield what attaches terraform to those that answered (nothing:
    terraform starts its providers itself). Every provider started is stopped when the block
    ends, however it ends; if this process is killed instead, when terraform has exited."""
    providers = installed(workdir) if enabled(env) else []
    private = _sockets_folder() if providers else None  # 0700: the sockets' home
    if private is None:
        yield Attachment()
        return
    lifeline, held = os.pipe()
    started: list[_Served] = []
    try:
        with span("providers served", count=len(providers)):
            for provider in providers:
                process = _launch(provider, workdir, env, private, lifeline)
                if process is not None:
                    started.append(_Served(provider, process))
            attach = {s.provider.address: s.reattach for s in started if s.handshake()}
        os.close(lifeline)
        lifeline = -1
        yield Attachment({REATTACH_VAR: json.dumps(attach)}, (held,)) if attach else Attachment()
    finally:
        for fd in (lifeline, held):  # terraform has exited: the keepers stop the providers
            if fd >= 0:
                os.close(fd)
        for each in started:
            each.wait()
        shutil.rmtree(private, ignore_errors=True)


# A Unix socket's path has at most 107 bytes (sun_path); the provider names its socket
# "plugin" and up to ten digits inside the folder it is given.
SOCKET_FOLDER_MAX = 107 - len("/plugin0123456789")


def _sockets_folder() -> Path | None:
    """A new private folder for the providers' sockets, in the temporary directory when its
    path leaves room for the socket's name (a deep TMPDIR does not), else in /tmp; None (no
    serving) where neither does."""
    for parent in (tempfile.gettempdir(), "/tmp"):
        _sweep(Path(parent))
        with contextlib.suppress(OSError):
            folder = Path(tempfile.mkdtemp(prefix="cmlinfra-providers-", dir=parent))
            if len(os.fsencode(folder)) <= SOCKET_FOLDER_MAX:
                return folder
            folder.rmdir()
    return None


def _sweep(parent: Path) -> None:
    """Remove this user's sockets folders that nothing serves from any more: a keeper removes
    its own, but not when it is SIGKILLed with everything else (a CI runner that kills a
    cancelled job's whole process tree). Only folders older than a provider's start, in which
    no socket accepts a connection, so a command starting or running now keeps its own."""
    settled = time.time() - START_TIMEOUT_S - STOP_GRACE_S
    for folder in parent.glob("cmlinfra-providers-*"):
        with contextlib.suppress(OSError):
            info = folder.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            if info.st_mtime < settled and not any(_answers(s) for s in folder.iterdir()):
                shutil.rmtree(folder)


def _answers(path: Path) -> bool:
    """Whether a process listens on the Unix socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


# Runs each served provider. Its stdin is the lifeline pipe, whose write end this process and
# the terraform it runs hold: once both have let go (the command ended, or this process was
# killed and terraform then finished), its ``read`` loop ends (a builtin: no PATH needed), and
# the provider is stopped and waited for and its socket's folder removed. So no provider
# outlives the terraform that used it.
# The keeper lets go of the handshake pipe at once, so a provider that exits without
# answering ends it, and :func:`_first_line` sees that instead of waiting for its timeout.
_KEEPER = (
    'P=$1; D=$2; "$P" </dev/null & C=$!; exec >/dev/null; '
    'while read -r _; do :; done; kill "$C" 2>/dev/null; wait "$C"; rm -rf "$D"'
)


def _launch(
    provider: Provider, workdir: Path, env: Mapping[str, str], private: Path, lifeline: int
) -> subprocess.Popen[bytes] | None:
    """Start one provider as terraform would, but without TLS: None if it cannot start."""
    environment = {**env, **HANDSHAKE_ENV, "TMPDIR": str(private)}
    environment.pop("PLUGIN_CLIENT_CERT", None)  # no TLS: the socket's directory guards it
    wanted = env.get("TF_LOG") or env.get("TF_LOG_PROVIDER")  # not our TF_LOG_CORE-only log
    log_path = env.get("TF_LOG_PATH") if wanted else None
    argv = ["/bin/sh", "-c", _KEEPER, "cmlinfra-provider", str(provider.binary), str(private)]
    try:
        with contextlib.ExitStack() as stack:
            stderr = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
            return subprocess.Popen(
                argv,
                cwd=workdir,
                env=environment,
                stdin=lifeline,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # Ctrl-C reaches terraform, which still needs it
            )
    except OSError as exc:
        log.debug("provider %s not served (%s): terraform starts it", provider.address, exc)
        return None


@dataclass
class _Served:
    provider: Provider
    process: subprocess.Popen[bytes]  # the keeper shell, leader of its process group
    reattach: dict[str, object] | None = None
    drain: threading.Thread | None = None

    def handshake(self) -> bool:
        """Read the provider's handshake line; False (and the process stopped) when there is
        none that terraform could attach to, so that terraform starts this one itself."""
        line = _first_line(self.process)
        self.reattach = _reattach(line, self.process.pid)
        if self.reattach is None:
            log.debug("provider %s not served (handshake %r)", self.provider.address, line[:200])
            self.stop()
            return False
        assert self.process.stdout is not None
        self.drain = threading.Thread(target=_discard, args=(self.process.stdout,), daemon=True)
        self.drain.start()
        return True

    def wait(self) -> None:
        """Wait for the keeper to stop the provider (its lifeline is closed); force it after
        a grace period (something terraform started may still hold the lifeline)."""
        try:
            self.process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.stop()
        if self.drain is not None:
            self.drain.join(timeout=STOP_GRACE_S)

    def stop(self) -> None:
        """SIGTERM to the keeper's group, the provider in it (go-plugin servers ignore
        SIGINT), then SIGKILL if they linger."""
        stop_group(self.process, grace=STOP_GRACE_S)
        if self.drain is None and self.process.stdout is not None:
            self.process.stdout.close()


def _first_line(process: subprocess.Popen[bytes]) -> str:
    """The handshake line, or '' when the provider exits or stays silent past the timeout."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=START_TIMEOUT_S):
            return ""
    return process.stdout.readline(4096).decode("utf-8", "replace").strip()


def _reattach(line: str, pid: int) -> dict[str, object] | None:
    """``CORE|APP|NETWORK|ADDRESS|PROTOCOL[|CERT]`` as terraform's reattach entry, or None for
    anything but a gRPC provider on a Unix socket without a server certificate."""
    parts = line.split("|")
    if len(parts) < 5 or parts[0] != "1" or not parts[1].isdigit():
        return None
    network, address, protocol = parts[2], parts[3], parts[4]
    if network != "unix" or protocol != "grpc" or (len(parts) > 5 and parts[5]):
        return None
    return {
        "Protocol": "grpc",
        "ProtocolVersion": int(parts[1]),
        "Pid": pid,
        "Test": True,  # terraform must not stop it after its first phase: we stop it
        "Addr": {"Network": "unix", "String": address},
    }


def _discard(stream: IO[bytes]) -> None:
    """Read whatever the provider prints after the handshake, so it never blocks on a pipe."""
    with contextlib.suppress(OSError, ValueError):
        while stream.read(65536):
            pass
