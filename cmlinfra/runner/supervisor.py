"""The runner agent and the node watchdog where there is no systemd: a machine that is a
container (``Capabilities.container``, a Kubernetes pod).

On a VM the agent is a systemd unit and the watchdog a systemd timer (agents.py, watchdog.py).
A container has neither; it has a main process, which hands the container over to
``CONTAINER_INIT`` as soon as that file exists. So ``runner launch`` installs there a small POSIX
shell script (``supervisor.sh.j2``) that becomes the container's PID 1 and:

- starts the agent the way its unit says — the unit stays the one description of how an agent
  runs (user, working directory, ``EnvironmentFile``, hook variables, ``ExecStartPre``,
  ``ExecStart``, ``Restart``); :class:`AgentService` reads it back;
- every interval asks the watchdog (``watchdog observe``: the same policy, job hooks and busy
  probe as on a VM) whether the runner must go: idle, single job done, max TTL; an agent that
  exits for good ends it too (nothing could run a job any more);
- then, or on SIGTERM (the Job's deadline, a deletion), stops the agent and its jobs, runs the
  watchdog's teardown (the unregister script with the runner's own material, then the cloud's
  end, ``kill -TERM 1``: itself, which by then ignores it) and exits 0, so the Job completes.

The registration material stays where the cloud's transport put it (the root-only file a
Secret is projected into); the supervisor reads it into the agent's environment only, never
onto a command line or into a log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.info import CONTAINER_INIT
from cmlinfra.runner.watchdog import LIB, STATE, WatchdogPolicy, render_scripts, render_template

STOP_GRACE = 10  # seconds the agent and its jobs get between SIGTERM and SIGKILL
HANDOFF_WAIT = 120  # seconds for PID 1 to hand over and the agent (its pre-start too) to start
# the [Service] keys the supervisor honours (KillMode: it always stops the agent's whole process
# group, since the container ends with it anyway); any other is refused, not ignored
SERVICE_KEYS = {
    "User", "WorkingDirectory", "EnvironmentFile", "Environment", "ExecStartPre", "ExecStart",
    "Restart", "RestartSec", "KillMode",
}  # fmt: skip
# what the watchdog and the supervisor run in the container, beyond a shell and coreutils
TOOLS = ("bash", "awk", "sed", "timeout", "setpriv", "setsid", "getent")


@dataclass(frozen=True)
class AgentService:
    """How the agent runs: what its systemd unit says, for a supervisor that is not systemd."""

    user: str
    workdir: str
    env_file: str
    command: str  # ExecStart, run by /bin/sh -c
    pre: tuple[str, ...] = ()  # ExecStartPre lines, in order
    environment: tuple[tuple[str, str], ...] = ()  # Environment= (never a secret)
    restart: str = "no"  # "no" | "on-failure"
    restart_delay: int = 5  # RestartSec, whole seconds

    @classmethod
    def from_unit(cls, text: str) -> AgentService:
        """The [Service] section of agent.service.j2's unit. Anything this reader would not run
        the way systemd does (a command prefix, another restart policy, two ExecStart) is
        refused, so a change of the unit cannot silently change the container's agent."""
        values: dict[str, list[str]] = {}
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            key, sep, value = line.partition("=")
            if section == "[Service]" and sep:
                values.setdefault(key.strip(), []).append(value.strip())
        unknown = sorted(set(values) - SERVICE_KEYS)
        if unknown:
            raise ValueError(f"the agent's unit sets {', '.join(unknown)}: not read here")
        commands = values.get("ExecStart", [])
        if len(commands) != 1:
            raise ValueError(f"the agent's unit has {len(commands)} ExecStart lines, not one")
        pre = tuple(values.get("ExecStartPre", []))
        for line in (*commands, *pre):
            if line[:1] in "-@+!:":
                raise ValueError(f"ExecStart prefix {line[:1]!r} is not supported: {line}")
        restart = (values.get("Restart") or ["no"])[-1]
        if restart not in ("no", "on-failure"):
            raise ValueError(f"Restart={restart} is not supported")
        delay = (values.get("RestartSec") or ["5"])[-1]
        if not delay.isdigit():
            raise ValueError(f"RestartSec={delay}: give whole seconds")
        environment = []
        for item in values.get("Environment", []):
            name, sep, value = item.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"Environment={item}: not NAME=VALUE")
            environment.append((name, value))
        return cls(
            user=(values.get("User") or ["root"])[-1],
            workdir=(values.get("WorkingDirectory") or ["/"])[-1],
            env_file=(values.get("EnvironmentFile") or [""])[-1],
            command=commands[0],
            pre=pre,
            environment=tuple(environment),
            restart=restart,
            restart_delay=int(delay),
        )


def agent_service(agent: Any) -> AgentService:
    """The service of an :class:`~cmlinfra.runner.agents.AgentPlan` (from its unit file)."""
    from cmlinfra.runner.agents import UNIT, UNIT_DIR

    mode_text = agent.files.get(f"{UNIT_DIR}{UNIT}")
    if mode_text is None:
        raise ValueError(f"the {agent.forge} agent's plan has no {UNIT}")
    return AgentService.from_unit(mode_text[1])


def render_supervisor(service: AgentService, *, interval: int, stop_grace: int = STOP_GRACE) -> str:
    """The supervisor script (POSIX sh: the container's /bin/sh may be dash or busybox)."""
    if not service.env_file.startswith("/"):
        raise ValueError("the agent's unit names no absolute EnvironmentFile")
    return render_template(
        "supervisor.sh.j2",
        service=service,
        lib=LIB,
        state=STATE,
        interval=interval,
        stop_grace=stop_grace,
    )


def render_install(policy: WatchdogPolicy, agent: Any, *, handoff_wait: int = HANDOFF_WAIT) -> str:
    """One root bash script, run through the cloud's exec: checks the image has what the
    scripts need, installs the watchdog and its hooks, arms it, puts the supervisor at
    ``CONTAINER_INIT`` (the main process takes it over within a second) and waits until the
    supervisor says the agent runs — or why it does not."""
    if policy.agent_unit:
        raise ValueError("a container has no systemd unit to stop: leave agent_unit empty")
    service = agent_service(agent)
    files = {
        name: (mode, text.rstrip("\n")) for name, (mode, text) in render_scripts(policy).items()
    }
    supervisor = render_supervisor(service, interval=policy.interval).rstrip("\n")
    for text in [t for _, t in files.values()] + [supervisor]:
        if "\nCMLINFRA_EOF\n" in f"\n{text}\n":
            raise ValueError("a rendered file contains the heredoc delimiter")
    tools = list(TOOLS)
    if "pgrep" in policy.busy_probe:
        tools.append("pgrep")
    return render_template(
        "supervisor-install.sh.j2",
        lib=LIB,
        state=STATE,
        init=CONTAINER_INIT,
        agent_user=policy.agent_user,
        files=files,
        supervisor=supervisor,
        tools=tools,
        handoff_wait=handoff_wait,
    )


def bootstrap_only(options: Any, asked: tuple[str, ...]) -> list[str]:
    """The bootstrap steps for a container (``options``: the bootstrap's ``Options``): what was
    asked for, else ``detect`` and the runner agent — the node has the driver and the container
    runtime, and the container is no place for Docker."""
    from cmlinfra.bootstrap.steps import step_names

    if asked:
        return list(asked)
    return [name for name in ("detect", "runner-agent") if name in step_names(options)]
