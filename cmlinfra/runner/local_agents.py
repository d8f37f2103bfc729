"""How each forge's runner agent runs in the foreground on *this* machine (``runner launch``
without ``--cloud``), from its registration material.

The material travels as the agents read it on a cloud machine (cmlinfra/runner/agents.py):
in the agent's environment (GitHub ``ACTIONS_RUNNER_INPUT_*``, GitLab ``CI_SERVER_TOKEN``,
Bitbucket ``OAUTH_CLIENT_SECRET``, which reaches runner.jar in a Java argument file read from a
pipe), never on a command line. The agent reports jobs through the
same hook scripts the node watchdog reads (``ACTIONS_RUNNER_HOOK_JOB_STARTED``/``COMPLETED``);
agents without hooks are watched through their child processes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cmlinfra.runner.agents import STANDIN_VARIABLE, bitbucket_start
from cmlinfra.runner.watchdog import render_template

GITHUB_DIR = "/opt/actions-runner"  # where the bootstrap's runner-agent step installs it
BITBUCKET_DIR = "/opt/atlassian-bitbucket-pipelines-runner"
BUSY_CHILDREN = 'pgrep -P "$CMLINFRA_AGENT_PID" >/dev/null'  # a job = a child of the agent


@dataclass
class LocalAgent:
    install: str  # the bootstrap's runner-agent step for it ("none": nothing to install)
    commands: list[list[str]]  # run in order; the last one is the agent itself
    env: dict[str, str]  # registration material and settings (the environment, never argv)
    cwd: Path
    busy_probe: str = ""  # shell test that a job runs, for agents without job hooks
    files: dict[Path, str] = field(default_factory=dict)  # written before the commands run


def standin() -> bool:
    return os.environ.get(STANDIN_VARIABLE) == "1"


def local_agent(registration: object, *, name: str, labels: list[str], home: Path) -> LocalAgent:
    """The agent for a :class:`cmlinfra.forges.base.RunnerRegistration`, run from ``home``."""
    reg = registration
    forge, kind, token = reg.forge, reg.kind, reg.token.reveal()  # type: ignore[attr-defined]
    if standin():
        script = home / "agent-standin"
        return LocalAgent(
            "none",
            [["bash", str(script)]],
            {"CMLINFRA_REGISTRATION": token},
            home,
            files={script: render_template("agent-standin.sh.j2", name=name)},
        )
    if forge == "github":
        top = Path(os.environ.get("CMLINFRA_ACTIONS_RUNNER_DIR", GITHUB_DIR))
        env = {"RUNNER_ALLOW_RUNASROOT": "1"}  # as CML: a root launcher may run the agent
        commands = [[str(top / "run.sh")]]
        if kind == "jit-config":
            env["ACTIONS_RUNNER_INPUT_JITCONFIG"] = token
        else:
            env.update(
                ACTIONS_RUNNER_INPUT_URL=reg.url,  # type: ignore[attr-defined]
                ACTIONS_RUNNER_INPUT_TOKEN=token,
                ACTIONS_RUNNER_INPUT_NAME=name,
                ACTIONS_RUNNER_INPUT_LABELS=",".join(labels),
            )
            group = reg.extra.get("runner_group", "")  # type: ignore[attr-defined]
            if group and group != "Default":
                env["ACTIONS_RUNNER_INPUT_RUNNERGROUP"] = group
            commands.insert(0, [str(top / "config.sh"), "--unattended", "--replace"])
        return LocalAgent("github", commands, env, top)
    if forge == "gitlab":
        binary = shutil.which("gitlab-runner") or "/usr/local/bin/gitlab-runner"
        config = str(home / "gitlab-runner.toml")
        register = [binary, "register", "--non-interactive", "--config", config]
        register += ["--executor", "shell", "--name", name]
        run = [binary, "run", "--config", config, "--working-directory", str(home / "work")]
        env = {"CI_SERVER_URL": reg.url, "CI_SERVER_TOKEN": token}  # type: ignore[attr-defined]
        return LocalAgent("gitlab", [register, run], env, home, BUSY_CHILDREN)
    extra = dict(reg.extra)  # type: ignore[attr-defined]
    env = {
        "ACCOUNT_UUID": extra["account_uuid"],
        "RUNNER_UUID": reg.runner_id,  # type: ignore[attr-defined]
        "OAUTH_CLIENT_ID": extra.get("client_id", ""),
        "OAUTH_CLIENT_SECRET": token,
    }
    if extra.get("repository_uuid"):
        env["REPOSITORY_UUID"] = extra["repository_uuid"]
    # runner.jar with its settings in a Java argument file from a pipe: start.sh would put the
    # OAuth client secret on java's command line (see bitbucket-runner.sh.j2)
    script = home / "bitbucket-runner"
    start = bitbucket_start(env, BITBUCKET_DIR, str(home / "work"))
    return LocalAgent(
        "bitbucket",
        [["bash", str(script)]],
        env,
        Path(BITBUCKET_DIR),
        BUSY_CHILDREN,
        files={script: start},
    )
