"""``cmlinfra bootstrap`` as a subprocess: render mode, parallel hosts with their own addresses
(network namespaces, each with its own sshd), one-line errors."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from cmlinfra.bootstrap.steps import AGENTS, Options, build_steps
from cmlinfra.cli.commands.bootstrap import parse_host
from cmlinfra.errors import UsageError
from tests.bootstrap.shell_hosts import REPLAY, restricted_path
from tests.fixtures.sshd import SshdFactory, SshHost


@pytest.mark.parametrize(("agent", "gpu"), list(itertools.product(AGENTS, [True, False])), ids=str)
def test_rendered_scripts_are_shellcheck_clean(cli, tmp_path: Path, agent: str, gpu: bool) -> None:
    args = ["bootstrap", "render", "--out", str(tmp_path), "--runner-agent", agent]
    result = cli(*args, *([] if gpu else ["--skip-gpu"]))
    assert result.returncode == 0, result.stderr
    scripts = sorted(tmp_path.glob("*.sh"))
    assert scripts and [str(p) for p in scripts] == result.stdout.split()
    names = [p.name.split("-", 1)[1].removesuffix(".sh") for p in scripts]
    assert names == [s.name for s in build_steps(Options(gpu=gpu, runner_agent=agent))]
    assert ("nvidia-driver" in names) == gpu and ("runner-agent" in names) == (agent != "none")
    check = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert json.loads((tmp_path / "steps.json").read_text())["steps"] == [p.name for p in scripts]


def test_render_replaces_an_older_render(cli, tmp_path: Path) -> None:
    assert (
        cli("bootstrap", "render", "--out", str(tmp_path), "--runner-agent", "github").returncode
        == 0
    )
    assert cli("bootstrap", "render", "--out", str(tmp_path), "--skip-gpu").returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*.sh")) == ["01-detect.sh", "02-docker.sh"]


def test_parse_host() -> None:
    assert parse_host("10.0.0.5", "root", 22) == ("root", "10.0.0.5", 22)
    assert parse_host("ubuntu@runner-1:2222", "root", 22) == ("ubuntu", "runner-1", 2222)
    assert parse_host("[fd00::5]:2200", "root", 22) == ("root", "fd00::5", 2200)
    with pytest.raises(UsageError):
        parse_host("a@b@c:x", "root", 22)


def test_bad_input_is_one_line_usage_error(cli, tmp_path: Path) -> None:
    cases = [
        (["bootstrap", "render"], "--out"),
        (["bootstrap", "10.0.0.1"], "--key"),
        (["bootstrap", "render", "--out", str(tmp_path), "--runner-agent", "jenkins"], "jenkins"),
        (["bootstrap", "render", "--out", str(tmp_path), "--steps", "docker,bogus"], "bogus"),
        (
            ["bootstrap", "10.0.0.1", "--key", str(tmp_path), "--host-key-fingerprint", "x"],
            "SHA256",
        ),
        (
            ["bootstrap", "10.0.0.1", "--key", str(tmp_path), "--known-hosts", "/nonexistent"],
            "does not exist",
        ),
    ]
    nobody = {"HOME": str(tmp_path), "SSH_AUTH_SOCK": ""}  # no ~/.ssh/id_*, no agent
    for args, needle in cases:
        result = cli(*args, env=nobody)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cmlinfra: error:") and needle in lines[0]


def _known_hosts(hosts: list[SshHost], path: Path) -> Path:
    path.write_text("".join(f"{h.addr} {h.host_key_line}\n" for h in hosts))
    return path


def test_parallel_hosts_json_summary(cli, sshd_factory: SshdFactory, tmp_path: Path) -> None:
    hosts = [sshd_factory(netns=True) for _ in range(3)]
    assert len({h.addr for h in hosts}) == 3
    known = _known_hosts(hosts, tmp_path / "known_hosts")
    result = cli(
        "--json", "bootstrap", *[h.addr for h in hosts], "--key", str(hosts[0].client_key),
        "--known-hosts", str(known), "--steps", "detect", "--wait", "20",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [h["host"] for h in summary] == [h.addr for h in hosts]
    for host in summary:
        assert host["ok"] and host["error"] is None
        assert [(s["name"], s["status"]) for s in host["steps"]] == [("detect", "done")]
        assert host["facts"]["os"] == "debian" and host["facts"]["gpu"] == "none"
    for h in hosts:  # progress on stderr carries each host's prefix
        assert f"[{h.addr}] fact: os=debian" in result.stderr


def test_without_key_the_default_identity_logs_in_as_ssh_does(
    cli, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    """No --key: ~/.ssh/id_ed25519 (paramiko's look-up, after the agent) logs in, as
    ``ssh HOST`` would."""
    host = sshd_factory()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    key.write_bytes(host.client_key.read_bytes())
    key.chmod(0o600)
    known = tmp_path / "known_hosts"
    known.write_text(f"[{host.addr}]:{host.port} {host.host_key_line}\n")
    args = ["bootstrap", f"{host.addr}:{host.port}", "--known-hosts", str(known)]
    result = cli(*args, "--steps", "detect", "--wait", "20",
                 env={"HOME": str(home), "SSH_AUTH_SOCK": ""})  # fmt: skip
    assert result.returncode == 0, result.stderr
    key.unlink()
    refused = cli(*args, env={"HOME": str(home), "SSH_AUTH_SOCK": ""})
    assert refused.returncode == 2 and "no ~/.ssh/id_* key" in refused.stderr


def test_one_bad_host_does_not_hide_the_others(
    cli, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    good, impostor = sshd_factory(netns=True), sshd_factory(netns=True)
    known = tmp_path / "known_hosts"
    # the impostor presents a key other than the one on record for its address
    known.write_text(f"{good.addr} {good.host_key_line}\n{impostor.addr} {good.host_key_line}\n")
    result = cli(
        "bootstrap", good.addr, impostor.addr, "--key", str(good.client_key),
        "--known-hosts", str(known), "--steps", "detect", "--wait", "20",
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("cmlinfra: error: 1 of 2 hosts failed:")
    assert f"{impostor.addr}: host key of {impostor.addr} does not match" in last
    table = result.stdout
    assert "ok" in table and "FAILED" in table and "done" in table


def _known(sshd: SshHost, tmp_path: Path) -> Path:
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.addr}]:{sshd.port} {sshd.host_key_line}\n")
    return known


# Docker with the nvidia runtime registered, failing `docker run --gpus all` the way Docker does
# when the runtime cannot reach a GPU.
DOCKER_WITHOUT_GPU = """#!/bin/sh
case "$1" in
  version) echo "Server: 24.0.7" ;;
  info) echo '{"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}' ;;
  *)
    echo "Unable to find image 'ubuntu:24.04' locally" >&2
    echo 'docker: Error response from daemon: could not select device driver "" with \
capabilities: [[gpu]].' >&2
    exit 125
    ;;
esac
"""


def test_failed_step_prints_tail_and_one_line(
    cli, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    """``--gpus all`` cannot run here, so two narrow shims stand in on the host's PATH: the
    nvidia-smi of the real H200 captures and a ``docker`` that fails the way Docker does when
    the NVIDIA runtime reaches no GPU. The CLI shows the step's last lines, then one error line."""
    path = restricted_path(
        tmp_path / "path", shims={"nvidia-smi": REPLAY, "docker": DOCKER_WITHOUT_GPU}
    )
    sshd = sshd_factory(set_env={"PATH": path})
    result = cli(
        "bootstrap", f"{sshd.addr}:{sshd.port}", "--key", str(sshd.client_key),
        "--known-hosts", str(_known(sshd, tmp_path)), "--steps", "gpu-check", "--wait", "20",
    )  # fmt: skip
    assert result.returncode == 1
    err = result.stderr.strip().splitlines()
    assert err[-1] == (
        f"cmlinfra: error: {sshd.addr}:{sshd.port}: step gpu-check failed with exit code 125: "
        'docker: Error response from daemon: could not select device driver "" with '
        "capabilities: [[gpu]]; see its last output lines above; fix the cause and re-run "
        "(finished steps are skipped)"
    )
    tail_start = err.index(f"--- last lines from {sshd.addr}:{sshd.port} ---")
    assert err[tail_start + 1] == "Unable to find image 'ubuntu:24.04' locally"
    assert "FAILED" in result.stdout


def test_a_gpu_host_without_docker_fails_in_one_line(
    cli, sshd_factory: SshdFactory, tmp_path: Path
) -> None:
    """The real H200 machine (driver 580, no Docker: its nvidia-smi replayed) used to end the
    gpu-check step with ``docker: command not found``, exit 127. Now the step names what is
    missing and the steps that provide it, and that line is the command's error line."""
    sshd = sshd_factory(
        set_env={"PATH": restricted_path(tmp_path / "path", shims={"nvidia-smi": REPLAY})}
    )
    result = cli(
        "--json", "bootstrap", f"{sshd.addr}:{sshd.port}", "--key", str(sshd.client_key),
        "--known-hosts", str(_known(sshd, tmp_path)), "--steps", "detect,gpu-check",
        "--wait", "20",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"cmlinfra: error: {sshd.addr}:{sshd.port}: step gpu-check failed with exit code 1: "
        "the GPU check needs Docker (the docker step installs it) and the NVIDIA container "
        "toolkit (the nvidia-container-toolkit step registers it with Docker); see its last "
        "output lines above; fix the cause and re-run (finished steps are skipped)"
    )
    (host,) = json.loads(result.stdout)
    assert [(s["name"], s["status"]) for s in host["steps"]] == [
        ("detect", "done"),
        ("gpu-check", "failed"),
    ]
    assert (host["facts"]["gpu"], host["facts"]["nvidia_driver"]) == (
        "1x NVIDIA H200",
        "580.159.04",
    )
    assert [(g["name"], g["memory_mib"]) for g in host["gpus"]] == [("NVIDIA H200", 143771)]
