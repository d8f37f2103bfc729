"""The in-container supervisor, rendered for every forge's agent: what it reads from the agent's
unit, what it refuses, that its scripts are POSIX sh / bash that shellcheck and dash accept, and
that it hands the agent exactly the environment file's values (both spellings systemd reads),
with nothing of the launcher's environment. The supervisor as a container's PID 1 — the agent,
the watchdog's decisions, SIGTERM — runs in pods of the API fake:
tests/clouds/kubernetes/test_supervisor.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cmlinfra.clouds.info import CONTAINER_INIT
from cmlinfra.runner.agents import ENV_FILE, UNIT, plan_agent
from cmlinfra.runner.supervisor import (
    AgentService,
    agent_service,
    render_install,
    render_supervisor,
)
from cmlinfra.runner.watchdog import LIB, WatchdogPolicy, render_template
from tests.runner.test_agents import CASES, MATERIAL, registration


@pytest.mark.parametrize(("forge", "kind", "single"), CASES)
def test_the_service_is_what_the_unit_says(forge: str, kind: str, single: bool) -> None:
    plan = plan_agent(registration(forge, kind), name="cml-a1", labels=["cml"], single=single)
    unit = plan.files[f"/etc/systemd/system/{UNIT}"][1]
    service = agent_service(plan)
    assert f"User={service.user}" in unit and f"WorkingDirectory={service.workdir}" in unit
    assert f"ExecStart={service.command}" in unit and service.env_file == ENV_FILE
    assert [f"ExecStartPre={line}" in unit for line in service.pre] == [True] * len(service.pre)
    assert dict(service.environment) == {
        "ACTIONS_RUNNER_HOOK_JOB_STARTED": f"{LIB}/job-started.sh",
        "ACTIONS_RUNNER_HOOK_JOB_COMPLETED": f"{LIB}/job-completed.sh",
    }
    assert service.restart == ("no" if single else "on-failure") and service.restart_delay == 5
    policy = WatchdogPolicy(
        agent_user=plan.user,
        busy_probe=plan.busy_probe,
        unregister=plan.unregister,
        end_script="kill -TERM 1",
    )
    install = render_install(policy, plan)
    assert MATERIAL not in install and CONTAINER_INIT in install
    assert "systemctl" not in plan.setup_script(systemd=False)
    assert "systemctl enable" not in install and "/etc/systemd/" not in install
    assert ("pgrep" in install.split("for tool in ")[1].split(";")[0]) == bool(plan.busy_probe)


def test_the_supervisor_is_where_the_main_process_looks() -> None:
    assert f"{LIB}/supervisor" == CONTAINER_INIT


@pytest.mark.parametrize(
    ("unit", "refused"),
    [
        ("[Service]\nExecStart=-/bin/true\n", "prefix '-'"),
        ("[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n", "2 ExecStart lines"),
        ("[Service]\nUser=x\n", "0 ExecStart lines"),
        ("[Service]\nExecStart=/bin/a\nRestart=always\n", "Restart=always"),
        ("[Service]\nExecStart=/bin/a\nEnvironment=A B\n", "not NAME=VALUE"),
        ("[Service]\nExecStart=/bin/a\nUnsetEnvironment=A\n", "sets UnsetEnvironment"),
        ("[Service]\nExecStart=/bin/a\nRestartSec=5min\n", "whole seconds"),
    ],
)
def test_a_unit_it_would_not_run_like_systemd_is_refused(unit: str, refused: str) -> None:
    with pytest.raises(ValueError, match=refused):
        AgentService.from_unit(unit)


def test_the_scripts_are_clean_posix_sh_and_bash(tmp_path: Path) -> None:
    plan = plan_agent(registration("gitlab", "runner-token"), name="n", labels=[], single=False)
    service = agent_service(plan)
    assert service.pre  # gitlab-runner register: the pre-start path is rendered too
    supervisor = tmp_path / "supervisor"
    supervisor.write_text(render_supervisor(service, interval=15))
    install = tmp_path / "install.sh"
    policy = WatchdogPolicy(agent_user=plan.user, busy_probe=plan.busy_probe, end_script="")
    install.write_text(render_install(policy, plan))
    assert supervisor.read_text().startswith("#!/bin/sh\n")
    for argv in (["dash", "-n", str(supervisor)], ["bash", "-n", str(install)]):
        subprocess.run(argv, check=True, timeout=30)
    if shutil.which("shellcheck"):
        for path in (supervisor, install):
            done = subprocess.run(
                ["shellcheck", str(path)], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout


TRICKY = {
    "PLAIN": "glrt-abc123",
    "SPACES": "  two  spaces  ",
    "QUOTES": 'it\'s "quoted"',
    "SHELL": "$HOME `id` $(id) ${PATH}",
    "BACKSLASH": "a\\b\\\\c\\",
    "EQUALS": "k=v=w",
    "UNICODE": "päßwörd✓",
    "EMPTY": "",
}


def systemd_quoted(values: dict[str, str]) -> str:
    """The spelling systemd reads back as exactly ``values``: double quotes, with a backslash
    before each backslash, double quote, dollar and backtick."""
    table = str.maketrans({"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`"})
    return "".join(f'{k}="{v.translate(table)}"\n' for k, v in values.items())


def agent_environment(tmp_path: Path, env_file_text: str) -> dict[str, str]:
    """What the agent's process gets, run by the supervisor's agent-exec as root (``env``)."""
    env_file = tmp_path / "agent.env"
    env_file.write_text(env_file_text)
    env_file.chmod(0o400)
    unit = render_template(
        "agent.service.j2",
        forge="github",
        user="root",
        workdir=str(tmp_path),
        env_file=str(env_file),
        hook_started="/hooks/started",
        hook_completed="/hooks/completed",
        exec="env -0",
        restart="no",
        pre="",
    )
    script = tmp_path / "supervisor"
    script.write_text(render_supervisor(AgentService.from_unit(unit), interval=1))
    done = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "HOME=/root", "dash", str(script), "agent-exec",
         "env -0"],
        capture_output=True,
        timeout=30,
        check=True,
        env={**os.environ, "LEAKED_FROM_THE_LAUNCHER": "1"},
    )  # fmt: skip
    pairs = (item.decode().partition("=") for item in done.stdout.split(b"\0") if item)
    shells = {"PWD", "SHLVL", "_", "OLDPWD"}
    return {k: v for k, _, v in pairs if k not in shells}


@pytest.mark.parametrize("spelling", ["systemd-quoted", "bare"])
def test_the_agent_gets_exactly_the_files_values(tmp_path: Path, spelling: str) -> None:
    values = dict(TRICKY) if spelling == "systemd-quoted" else {"PLAIN": "glrt-abc 1$x`'\""}
    text = (
        systemd_quoted(values)
        if spelling == "systemd-quoted"
        else "".join(f"{k}={v}\n" for k, v in values.items())
    )
    got = agent_environment(tmp_path, f"# a comment\n\n{text}")
    expected = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/root",
        "ACTIONS_RUNNER_HOOK_JOB_STARTED": "/hooks/started",
        "ACTIONS_RUNNER_HOOK_JOB_COMPLETED": "/hooks/completed",
        **values,
    }
    assert got == expected


def test_the_agent_gets_what_the_launcher_writes(tmp_path: Path) -> None:
    """Whatever spelling agents.py writes today, the supervisor reads it back as written."""
    reg = registration("gitlab", "runner-token")
    plan = plan_agent(reg, name="n", labels=[], single=False)
    got = agent_environment(tmp_path, plan.env.reveal())
    assert got["CI_SERVER_TOKEN"] == MATERIAL and got["CI_SERVER_URL"] == reg.url
