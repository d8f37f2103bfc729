"""Running steps on real sshd hosts: failures that explain themselves, resuming after a dropped
connection, sudo for non-root users, and secrets that never show up anywhere but their file."""

from __future__ import annotations

import logging
import os
import shlex
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from cmlinfra.bootstrap.run import HostResult, bootstrap_host, run_steps
from cmlinfra.bootstrap.ssh import connect
from cmlinfra.bootstrap.steps import Step
from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret
from tests.fixtures.sshd import SshdFactory, SshHost, wait_until


def idempotent(name: str, done: Path, body: str = "") -> Step:
    """A step in the house style: check its own result, skip when there, else do the work."""
    script = f"""set -euo pipefail
if [[ -e {done} ]]; then echo "skip: already done"; exit 0; fi
echo "{name}: working"
{body}
touch {done}
"""
    return Step(name, script)


def test_failed_step_names_itself_its_exit_code_and_last_lines(sshd: SshHost) -> None:
    steps = [
        Step("compile", "echo one; echo two; echo 'boom: disk full' >&2; exit 7"),
        Step("after", "echo never"),
    ]
    result = bootstrap_host(sshd.target(), steps, wait=10)
    assert not result.ok
    assert result.error is not None and "\n" not in result.error
    assert "step compile failed with exit code 7: boom: disk full" in result.error
    assert result.tail[-3:] == ["one", "two", "boom: disk full"]
    assert [(s.name, s.status, s.exit_code) for s in result.steps] == [
        ("compile", "failed", 7),
        ("after", "not run", None),
    ]


def test_step_timeout_is_reported(sshd: SshHost) -> None:
    result = bootstrap_host(sshd.target(), [Step("hang", "sleep 60", timeout=1)], wait=10)
    assert not result.ok
    assert result.error is not None and "1s timeout" in result.error
    assert result.steps[0].status == "failed"


def test_cut_connection_then_rerun_skips_finished_steps(sshd: SshHost, tmp_path: Path) -> None:
    started, go = tmp_path / "started", tmp_path / "go"
    waits = f"touch {started}\nuntil [[ -e {go} ]]; do echo waiting; sleep 0.1; done"
    steps = [
        idempotent("first", tmp_path / "first.done"),
        idempotent("second", tmp_path / "second.done", waits),
    ]
    outcome: list[HostResult] = []
    thread = threading.Thread(
        target=lambda: outcome.append(bootstrap_host(sshd.target(), steps, wait=10))
    )
    thread.start()
    wait_until(started.exists, 30, "the second step to start")
    sshd.cut_connections()
    thread.join(30)
    cut = outcome[0]
    assert not cut.ok and cut.error is not None and "lost" in cut.error
    assert [s.status for s in cut.steps] == ["done", "failed"]
    # the orphaned script dies on its next write to the closed connection
    wait_until(lambda: not _processes_mentioning("second.sh"), 30, "the orphan to exit")
    assert not (tmp_path / "second.done").exists()

    go.touch()
    rerun = bootstrap_host(sshd.target(), steps, wait=10)
    assert rerun.ok, rerun.error
    assert [(s.name, s.status) for s in rerun.steps] == [("first", "skipped"), ("second", "done")]
    assert rerun.steps[0].note == "already done"
    again = bootstrap_host(sshd.target(), steps, wait=10)
    assert [s.status for s in again.steps] == ["skipped", "skipped"]


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line or environment contains ``text`` (this machine is the remote)."""
    needle = text.encode()
    hits = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        for part in ("cmdline", "environ"):
            try:
                if needle in (proc / part).read_bytes():
                    hits.append(int(proc.name))
            except OSError:
                pass
    return hits


def test_non_root_user_runs_steps_through_sudo(sshd: SshHost, sudo_user: str) -> None:
    with connect(sshd.target(user=sudo_user), wait=10) as ssh:
        result = ssh.run('id -u; echo "$SUDO_USER"', timeout=30)
    assert result.tail == ("0", sudo_user)


def test_user_without_sudo_gets_a_one_line_error(sshd: SshHost, plain_user: str) -> None:
    with pytest.raises(CmlinfraError, match="cannot run sudo without a password") as err:
        connect(sshd.target(user=plain_user), wait=10)
    assert "NOPASSWD" in err.value.line()


@pytest.mark.parametrize("login", ["root", "sudoer"])
def test_secret_reaches_only_its_root_only_file(
    sshd_factory: SshdFactory,
    tmp_path: Path,
    login: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The token goes over SFTP into a 0600 root file. While the step runs, no process on the
    host (sshd's children, sudo, bash) has it in its argv or environment; neither the streamed
    output nor sshd's DEBUG3 log contains it."""
    sshd = sshd_factory()
    user = "root" if login == "root" else request.getfixturevalue("sudo_user")
    token = Secret("ghs_" + os.urandom(16).hex())
    secret_dir = tmp_path / "etc-cmlinfra"
    dest = secret_dir / "runner-token"
    started, go = tmp_path / "started", tmp_path / "go"
    q = shlex.quote
    script = f"""set -euo pipefail
touch {started}
until [[ -e {go} ]]; do sleep 0.05; done
stat -c 'mode=%a owner=%U' {q(str(dest))}
sha256sum <{q(str(dest))} | cut -d' ' -f1
"""
    step = Step("register", script, secrets={str(dest): token})
    seen: list[int] = []
    stop = threading.Event()

    def scan() -> None:
        while not stop.is_set():
            seen.extend(_processes_mentioning(token.reveal()))

    scanner = threading.Thread(target=scan)
    scanner.start()
    outcome: list[HostResult] = []
    caplog.set_level(logging.INFO, logger="cmlinfra")
    try:
        with connect(sshd.target(user=user), wait=10) as ssh:
            runner = threading.Thread(
                target=lambda: outcome.append(
                    run_steps(ssh, [step], HostResult("h", sshd.addr), timeout=60)
                )
            )
            runner.start()
            wait_until(started.exists, 30, "the step to start")
            go.touch()
            runner.join(60)
    finally:
        stop.set()
        scanner.join()
    result = outcome[0]
    assert result.ok, result.error
    import hashlib

    digest = hashlib.sha256(token.reveal().encode()).hexdigest()
    assert "mode=600 owner=root" in caplog.text
    assert digest in caplog.text
    assert dest.read_text() == token.reveal()
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and dest.stat().st_uid == 0
    assert not [p for p in secret_dir.iterdir() if p.name != "runner-token"]  # no partial file
    assert seen == []
    assert token.reveal() not in caplog.text
    assert token.reveal() not in sshd.log.read_text()
    home = Path("/root" if user == "root" else f"/home/{user}")
    assert list((home / ".cmlinfra" / "stage").iterdir()) == []  # staged copy removed


HOOK = """{% include "_lib.sh.j2" %}
unit={{ unit_dir }}/cmlinfra-watchdog.service
if [[ -s $unit ]] && [[ -s {{ token_file }} ]]; then skip "already done"; fi
[[ $(stat -c %a {{ token_file }}) == 600 ]] || die "token file is not private"
printf '[Service]\\nExecStart=/usr/local/bin/watchdog --token-file {{ token_file }}\\n' >"$unit"
log "installed $unit"
"""


def test_custom_step_hook_with_a_secret_file(sshd: SshHost, tmp_path: Path) -> None:
    """What the lifecycle code does: add its own step (a unit that reads a registration token
    from its root-only file), rendered with the shared helpers and idempotent like the rest."""
    from cmlinfra.bootstrap.steps import custom_step

    token_file = tmp_path / "secrets" / "token"
    step = custom_step(
        "watchdog",
        HOOK,
        secrets={str(token_file): Secret("glrt-" + os.urandom(12).hex())},
        unit_dir=tmp_path,
        token_file=token_file,
    )
    script = tmp_path / "hook.sh"
    script.write_text(step.script)
    assert subprocess.run(["shellcheck", str(script)], capture_output=True).returncode == 0
    first = bootstrap_host(sshd.target(), [step], wait=10)
    assert first.ok, first.error
    assert "--token-file" in (tmp_path / "cmlinfra-watchdog.service").read_text()
    second = bootstrap_host(sshd.target(), [step], wait=10)
    assert second.steps[0].status == "skipped"
    with pytest.raises(TypeError, match="cannot be rendered"):
        custom_step("bad", HOOK, token=Secret("x" * 10))
    with pytest.raises(ValueError, match="lowercase"):
        custom_step("../escape", HOOK)


def test_unwritable_secret_path_fails_cleanly(sshd: SshHost) -> None:
    token = Secret("tok-" + os.urandom(8).hex())
    with connect(sshd.target(), wait=10) as ssh:
        with pytest.raises(CmlinfraError, match="writing the secret file /proc/nope/token") as err:
            ssh.put_secret(token, "/proc/nope/token")
        with pytest.raises(CmlinfraError, match="not absolute"):
            ssh.put_secret(token, "relative/token")
    assert token.reveal() not in err.value.line()
    assert list(Path("/root/.cmlinfra/stage").iterdir()) == []
