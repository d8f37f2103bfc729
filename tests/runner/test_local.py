"""``runner launch`` without ``--cloud``: this machine becomes the runner, in the foreground, as
CML's on-premise runner does — registered at the fake forge, the agent started with its
material in the environment (never the user's token), the node watchdog's own scripts deciding
when it ends (here: ``--single``'s job, the idle timeout), SIGTERM honoured, unregistered at the
end. The agent is the stand-in (tests/runner agents: the real ones download from the internet);
the jobs are driven through the same hook scripts the real GitHub agent calls."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.cli import cli_env
from tests.runner.conftest import wait_until


@dataclass
class Launched:
    proc: subprocess.Popen[str]
    home: Path
    name: str
    lines: list[str] = field(default_factory=list)

    def agent_pid(self) -> int | None:
        for line in self.lines:
            found = re.search(r"agent pid (\d+)", line)
            if found:
                return int(found.group(1))
        return None

    def hook(self, event: str) -> None:
        root = self.home / "local" / self.name / "root"
        script = root / "usr/local/lib/cmlinfra" / f"job-{event}.sh"
        subprocess.run(["bash", str(script)], env={**os.environ, "CMLINFRA_ROOT": str(root)},
                       check=True, timeout=30)  # fmt: skip

    def finish(self, timeout: float = 60) -> tuple[int, dict[str, object]]:
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, json.loads(out) if out.strip() else {}


@pytest.fixture
def launch(forge_repo, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    started: list[Launched] = []

    def run(
        name: str, *extra: str, program: str = "cmlinfra", driver: str = "github"
    ) -> tuple[Launched, object]:
        repo = forge_repo(driver, "acme/ml")
        args = ["--json", "runner", "launch", "--name", name, "--watchdog-interval", "1"]
        args += ["--driver", driver, "--repo", f"{repo.server.url}/acme/ml", *extra]
        env = cli_env({"CMLINFRA_HOME": str(tmp_path), "CMLINFRA_AGENT_STANDIN": "1",
                       "REPO_TOKEN": repo.server.token})  # fmt: skip
        command = [sys.executable, "-m", "cmlinfra", *args]
        if program == "cml":
            command = [sys.executable, "-c", "from cmlinfra.cli.cml import cml; cml()", *args]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        launched = Launched(proc, tmp_path, name)
        started.append(launched)

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                launched.lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        wait_until(lambda: launched.agent_pid() is not None or proc.poll() is not None, 60,
                   "the agent to start")  # fmt: skip
        assert proc.poll() is None, "".join(launched.lines)
        return launched, repo

    yield run
    for launched in started:
        if launched.proc.poll() is None:
            launched.proc.kill()
            launched.proc.communicate()


def test_single_job_then_it_unregisters_and_returns(launch, tmp_path) -> None:
    launched, repo = launch("cml-here", "--single", "--labels", "local,runner")
    [runner] = repo.runners
    assert (runner.name, sorted(runner.labels)) == ("cml-here", ["local", "runner"])
    # the agent got its material, not the user's token
    environ = Path(f"/proc/{launched.agent_pid()}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0] for item in environ}
    assert b"CMLINFRA_REGISTRATION" in names and b"REPO_TOKEN" not in names
    assert not any(repo.server.token.encode() in item for item in environ)
    launched.hook("started")
    launched.hook("completed")
    code, result = launched.finish()
    assert code == 0, "".join(launched.lines)
    assert result["reason"] == "single-job-done" and result["cloud"] == "local"
    assert repo.runners == [] and not (tmp_path / "local" / "cml-here").exists()


def test_idle_timeout_ends_it(launch) -> None:
    launched, repo = launch("cml-idle", "--idle-timeout", "2")
    code, result = launched.finish()
    assert (code, result["reason"]) == (0, "idle")
    assert repo.runners == []


def test_sigterm_unregisters_even_with_idle_timeout_never(launch) -> None:
    """CML's on-premise example: --idle-timeout never (refused with --cloud: it would never
    end; here the machine is the user's own and the process is the runner). GitLab: the
    runner exists at the forge from its registration on (a GitHub runner without --single
    appears only once the real agent's config.sh has run)."""
    launched, repo = launch("cml-never", "--idle-timeout", "never", program="cml", driver="gitlab")
    assert [r.name for r in repo.runners] == ["cml-never"], "".join(launched.lines)
    launched.proc.send_signal(signal.SIGTERM)
    code, result = launched.finish()
    assert (code, result["reason"]) == (0, "SIGTERM")
    assert repo.runners == []
    agent = launched.agent_pid()
    assert agent is not None and not Path(f"/proc/{agent}").exists()


# The CI job is cancelled the instant the runner shows up at the forge: the signal lands
# between the registration and the agent's start, where the default action would end the
# process with the runner still registered (CI caught this window once).
_SIGTERM_AT_REGISTRATION = """
import os, signal, sys
import cmlinfra.forges as forges
real_connect = forges.connect
def connect(context):
    forge = real_connect(context)
    real_registration = forge.runner_registration
    def registration(**kwargs):
        material = real_registration(**kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return material
    forge.runner_registration = registration
    return forge
forges.connect = connect
from cmlinfra.cli.app import main
main(sys.argv[1:])
"""


def test_sigterm_the_moment_it_registers_still_unregisters(forge_repo, tmp_path) -> None:
    repo = forge_repo("gitlab", "acme/ml")
    args = ["--json", "runner", "launch", "--name", "cml-early", "--labels", "local,runner",
            "--driver", "gitlab", "--repo", f"{repo.server.url}/acme/ml"]  # fmt: skip
    env = cli_env({"CMLINFRA_HOME": str(tmp_path), "CMLINFRA_AGENT_STANDIN": "1",
                   "REPO_TOKEN": repo.server.token})  # fmt: skip
    done = subprocess.run([sys.executable, "-c", _SIGTERM_AT_REGISTRATION, *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reason"] == "SIGTERM"
    assert "unregistered runner cml-early" in done.stderr
    assert repo.runners == [] and not (tmp_path / "local" / "cml-early").exists()


def test_reuse_asks_the_forge_for_a_runner_with_every_label(forge_repo, cli, tmp_path) -> None:
    repo = forge_repo("github", "acme/ml")
    repo.driver().runner_registration(name="elsewhere", labels=["gpu", "cml"], jit=True)
    repo.set_runner("elsewhere", status="online", busy=True)
    args = ["--json", "runner", "launch", "--labels", "gpu", "--driver", "github"]
    args += ["--repo", f"{repo.server.url}/acme/ml", "--token", repo.server.token]
    env = {"CMLINFRA_HOME": str(tmp_path), "CMLINFRA_AGENT_STANDIN": "1"}
    reused = cli(*args, "--reuse", env=env)
    assert reused.returncode == 0, reused.stderr
    assert json.loads(reused.stdout) == {
        "name": "elsewhere", "reused": True, "reason": "reused", "cloud": "local"
    }  # fmt: skip
    taken = cli(*args, "--name", "elsewhere", env=env)
    assert taken.returncode == 2
    assert "a runner named 'elsewhere' is already registered" in taken.stderr
    assert [r.name for r in repo.runners] == ["elsewhere"]
