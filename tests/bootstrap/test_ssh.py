"""The SSH client against real OpenSSH sshd: host-key verification, waiting, running as root."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from cmlinfra.bootstrap.hostkeys import ExpectedHostKeys
from cmlinfra.bootstrap.ssh import connect
from cmlinfra.bootstrap.transport import HostKeyMismatch, Transport, Unreachable
from cmlinfra.errors import UsageError
from tests.fixtures.sshd import SshdFactory, SshHost, keygen


def ssh_keygen_fingerprint(pub_line: str, tmp_path: Path) -> str:
    """The fingerprint as OpenSSH itself prints it (``ssh-keygen -lf``)."""
    path = tmp_path / "k.pub"
    path.write_text(pub_line + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True)
    return out.stdout.split()[1]


def test_runs_commands_as_root_with_streamed_output(sshd: SshHost) -> None:
    lines: list[str] = []
    with connect(sshd.target(), wait=10) as ssh:
        assert isinstance(ssh, Transport)
        result = ssh.run("echo out; echo err >&2; id -u; exit 3", timeout=30, on_line=lines.append)
    assert result.exit_code == 3
    # stdout and stderr are separate pipes on the host: their relative order is not kept
    assert sorted(lines) == ["0", "err", "out"]
    assert result.tail == tuple(lines)


def test_wrong_host_key_is_refused_with_both_fingerprints(sshd: SshHost, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other")
    presented = ssh_keygen_fingerprint(sshd.host_key_line, tmp_path)
    expected = ssh_keygen_fingerprint(other, tmp_path)
    with pytest.raises(HostKeyMismatch) as err:
        connect(sshd.target(host_keys=(other,)), wait=10)
    message = err.value.line()
    assert "does not match" in message and "\n" not in message
    assert expected in message and presented in message


def test_wrong_fingerprint_is_refused_and_the_right_one_accepted(
    sshd: SshHost, tmp_path: Path
) -> None:
    right = ssh_keygen_fingerprint(sshd.host_key_line, tmp_path)
    wrong = ssh_keygen_fingerprint(keygen(tmp_path / "other"), tmp_path)
    with pytest.raises(HostKeyMismatch, match="does not match"):
        connect(sshd.target(host_keys=(), fingerprints=(wrong,)), wait=10)
    with connect(sshd.target(host_keys=(), fingerprints=(right,)), wait=10) as ssh:
        assert ssh.run("true", timeout=10).exit_code == 0


def test_known_hosts_file(sshd: SshHost, tmp_path: Path) -> None:
    """A known_hosts file as OpenSSH writes it: ``[addr]:port`` names, hashed too."""
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.addr}]:{sshd.port} {sshd.host_key_line}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    assert str(sshd.port) not in known.read_text()  # really hashed
    with connect(sshd.target(host_keys=(), known_hosts=known), wait=10) as ssh:
        assert ssh.run("true", timeout=10).exit_code == 0
    unknown = tmp_path / "empty_known_hosts"
    unknown.write_text("")
    with pytest.raises(HostKeyMismatch, match="unknown") as err:
        connect(sshd.target(host_keys=(), known_hosts=unknown), wait=10)
    assert ssh_keygen_fingerprint(sshd.host_key_line, tmp_path) in err.value.line()


def test_bad_expected_key_or_fingerprint_is_a_usage_error(sshd: SshHost) -> None:
    with pytest.raises(UsageError, match="not an OpenSSH public key"):
        ExpectedHostKeys("h", 22, key_lines=("ssh-ed25519 not-base64!",)).allowed()
    with pytest.raises(UsageError, match="not a SHA256"):
        ExpectedHostKeys("h", 22, fingerprints=("SHA256:short",)).allowed()


def test_waits_for_an_sshd_that_comes_up_late(sshd_factory: SshdFactory) -> None:
    """The client starts first; sshd starts once the client has reported a failed attempt."""
    host = sshd_factory(start=False)
    first_failure = threading.Event()
    messages: list[str] = []
    outcome: dict[str, object] = {}

    def say(message: str) -> None:
        messages.append(message)
        first_failure.set()

    def client() -> None:
        try:
            with connect(host.target(), wait=60, say=say) as ssh:
                outcome["uid"] = ssh.run("id -u", timeout=10).tail
        except Exception as exc:  # reported to the main thread below
            outcome["error"] = exc

    thread = threading.Thread(target=client)
    thread.start()
    assert first_failure.wait(30), "the client never reported waiting"
    host.start()
    thread.join(60)
    assert not thread.is_alive()
    assert outcome.get("uid") == ("0",), outcome
    assert "connection refused" in messages[0]
    assert messages[0].endswith("retry in 0.25s")  # a booting machine is retried sub-second
    assert any("SSH is up" in m for m in messages)


def test_gives_up_at_the_deadline_with_one_line(sshd_factory: SshdFactory) -> None:
    host = sshd_factory(start=False)  # nothing listens on its port
    with pytest.raises(Unreachable, match="connection refused") as err:
        connect(host.target(), wait=2)
    assert "\n" not in err.value.line()


def test_a_single_attempt_is_counted_in_the_singular(sshd_factory: SshdFactory) -> None:
    host = sshd_factory(start=False)
    with pytest.raises(Unreachable, match="failed after 1 attempt: connection refused"):
        connect(host.target(), wait=0)


def test_unknown_client_key_fails_after_a_few_attempts(sshd: SshHost, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    with pytest.raises(Unreachable, match="key not accepted"):
        connect(replace(sshd.target(), key=stranger), wait=60)


def test_missing_key_file_is_a_usage_error(sshd: SshHost, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        connect(replace(sshd.target(), key=tmp_path / "nope"), wait=5)


def test_uploads_make_the_private_folder_once_per_connection(
    sshd: SshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each SFTP request is a round trip (20-100 ms from a CI job to a cloud region): the
    0700 ``~/.cmlinfra/bootstrap`` folder is made and its mode set once, not per file."""
    import paramiko

    requests: list[str] = []
    for name in ("mkdir", "chmod"):
        real = getattr(paramiko.SFTPClient, name)

        def spy(self, path, *args, _real=real, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            requests.append(f"{_name} {path.rsplit('/', 1)[-1]}")
            return _real(self, path, *args, **kwargs)

        monkeypatch.setattr(paramiko.SFTPClient, name, spy)
    with connect(sshd.target(), wait=10) as ssh:
        paths = [ssh.put_file(b"echo %d\n" % i, f"s{i}.sh", 0o700) for i in range(3)]
        listing = ssh.run(f"stat -c '%a %n' {' '.join(paths)} $(dirname {paths[0]})", timeout=30)
    folders = ["mkdir .cmlinfra", "chmod .cmlinfra", "mkdir bootstrap", "chmod bootstrap"]
    assert requests == [*folders, "chmod s0.sh", "chmod s1.sh", "chmod s2.sh"]
    assert sorted(line.split()[0] for line in listing.tail) == ["700", "700", "700", "700"]
