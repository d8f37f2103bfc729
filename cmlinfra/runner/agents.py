"""How each forge's runner agent is started on the machine, from its registration material.

The material (a GitHub JIT config or registration token, a GitLab ``glrt-`` runner token, a
Bitbucket OAuth client secret) is short-lived or scoped to one runner, and reaches the machine
only as a root-only ``EnvironmentFile`` written over SFTP; systemd reads it before dropping
privileges. The agents read their inputs from the environment (GitHub:
``ACTIONS_RUNNER_INPUT_*``; GitLab: ``CI_SERVER_URL``/``CI_SERVER_TOKEN``; Bitbucket: see
``bitbucket-runner.sh.j2``), so the material is never on a command line, in user-data or in
Terraform. The user's own forge token never leaves the launcher.

The file is written with the quoting systemd reads back as the very same values
(:func:`env_file`), so no value — a label, a name, material from the forge — can add a line
(``LD_PRELOAD=…``, a second ``ACTIONS_RUNNER_INPUT_URL``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.watchdog import HOOK_COMPLETED, HOOK_STARTED, LIB, render_template
from cmlinfra.secrets import Secret

UNIT = "cmlinfra-agent.service"
UNIT_DIR = "/etc/systemd/system/"
ENV_FILE = "/etc/cmlinfra/secrets/agent.env"
GITLAB_CONFIG = "/etc/cmlinfra/gitlab-runner.toml"
GITLAB_TEMPLATE = "/etc/cmlinfra/gitlab-runner-template.toml"  # merged in at registration
STANDIN_VARIABLE = "CMLINFRA_AGENT_STANDIN"  # tests only: see agent-standin.sh.j2
BITBUCKET_START = f"{LIB}/bitbucket-runner"
BITBUCKET_WORKDIR = "/home/bitbucket/work"  # the runner's working dir: each step's clone below
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# systemd's EnvironmentFile: inside double quotes, a backslash escapes exactly these four
_ENV_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`"})
# what the Bitbucket runner's settings may hold (UUIDs in braces, an OAuth client, a path):
# they go into a Java argument file, one per line
_BITBUCKET_VALUE = re.compile(r"[A-Za-z0-9{}._~+/=:@-]*")


@dataclass(frozen=True)
class AgentPlan:
    forge: str
    install: str  # the bootstrap's runner-agent step ("none": nothing to download)
    user: str  # the user jobs (and so the job hooks) run as
    env: Secret  # the EnvironmentFile's content
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (mode, text)
    busy_probe: str = ""
    unregister: str = ""  # script the watchdog runs before power-off ("" : none possible)

    def setup_script(self, *, systemd: bool = True) -> str:
        """Root script: the agent's user, unit and files; the agent is started later, once the
        watchdog is armed, so no job can start unobserved. No ``daemon-reload`` here: the
        watchdog's install reloads systemd once for both (each reload costs 0.1-0.5 s). Without
        systemd (a container) the unit is not installed: the supervisor reads it instead
        (supervisor.py)."""
        lines = [
            "set -euo pipefail",
            f"id -u {self.user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "
            f"{self.user}",
        ]
        for path, (mode, text) in self.files.items():
            if not systemd and path.startswith(UNIT_DIR):
                continue
            lines += [
                f"mkdir -p {shlex.quote(os.path.dirname(path))}",
                f"install -m {mode} /dev/null {shlex.quote(path)}",
                f"cat >{shlex.quote(path)} <<'CMLINFRA_EOF'\n{text.rstrip()}\nCMLINFRA_EOF",
            ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def start_script() -> str:
        """After the watchdog's install, whose ``daemon-reload`` loaded the unit: enabling it
        needs no second reload (``--no-reload``; the symlink is read at the next boot)."""
        return f"systemctl enable --now --no-reload {UNIT}\n"


def _unit(forge: str, user: str, workdir: str, command: str, restart: str, pre: str = "") -> str:
    return render_template(
        "agent.service.j2",
        forge=forge,
        user=user,
        workdir=workdir,
        env_file=ENV_FILE,
        hook_started=HOOK_STARTED,
        hook_completed=HOOK_COMPLETED,
        exec=command,
        restart=restart,
        pre=pre,
    )


def env_file(values: dict[str, str]) -> Secret:
    """An ``EnvironmentFile`` that systemd reads back as exactly ``values``: each value in
    double quotes, with a backslash before each backslash, double quote, dollar and backtick
    (the escapes systemd knows there). A line break or NUL can never be part of a value (it
    could start a line of its own): refused, without printing the value, which may be
    registration material."""
    lines = []
    for name, value in values.items():
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an environment variable name")
        if any(c in value for c in "\n\r\0"):
            raise CmlinfraError(
                f"the runner agent's {name} would hold a line break",
                "check --labels and --name; a forge that sends one is not trusted",
            )
        lines.append(f'{name}="{value.translate(_ENV_ESCAPES)}"\n')
    return Secret("".join(lines))


def bitbucket_start(env: dict[str, str], home: str, workdir: str) -> str:
    """The script that starts the Bitbucket runner's jar with ``env``'s settings in a Java
    argument file read from a pipe (bitbucket-runner.sh.j2), never on a command line; the
    values are checked first (they become lines of that file)."""
    for key, value in env.items():
        if not _BITBUCKET_VALUE.fullmatch(value):
            raise CmlinfraError(
                f"Bitbucket sent a runner {key} that is not a UUID or an OAuth client value",
                "retry; if it persists, the Bitbucket API answered something unexpected",
            )
    return render_template("bitbucket-runner.sh.j2", home=home, workdir=workdir)


def gitlab_template() -> str:
    """The ``[[runners]]`` settings ``gitlab-runner register --template-config`` merges into
    the runner it registers: the job hooks, from inside each job (GitLab Runner has no hooks
    around a job). ``pre_build_script`` and ``post_build_script`` run in the job's own shell,
    as the runner's user, with the job's ``CI_*`` variables, before and after its script;
    ``$$`` is that shell, by which the reclaim watcher tells whether the job still runs (a
    script that fails or is cancelled never reaches ``post_build_script``). ``|| true``: a
    hook never fails a job."""
    return render_template(
        "gitlab-runner-template.toml.j2", started=HOOK_STARTED, completed=HOOK_COMPLETED
    )


def plan_agent(registration: object, *, name: str, labels: list[str], single: bool) -> AgentPlan:
    """The agent for a :class:`cmlinfra.forges.base.RunnerRegistration`."""
    reg = registration
    forge, kind, token = reg.forge, reg.kind, reg.token.reveal()  # type: ignore[attr-defined]
    unit_path = f"/etc/systemd/system/{UNIT}"
    if os.environ.get(STANDIN_VARIABLE) == "1":
        script = f"{LIB}/agent-standin"
        return AgentPlan(
            forge=forge,
            install="none",
            user="runner",
            env=env_file({"CMLINFRA_REGISTRATION": token}),
            files={
                script: ("0755", render_template("agent-standin.sh.j2", name=name)),
                unit_path: ("0644", _unit(forge, "runner", "/home/runner", script, "no")),
            },
        )
    if forge == "github":
        home = "/opt/actions-runner"
        if kind == "jit-config":
            env = {"ACTIONS_RUNNER_INPUT_JITCONFIG": token}
            pre = ""
        else:
            env = {
                "ACTIONS_RUNNER_INPUT_URL": reg.url,  # type: ignore[attr-defined]
                "ACTIONS_RUNNER_INPUT_TOKEN": token,
                "ACTIONS_RUNNER_INPUT_NAME": name,
                "ACTIONS_RUNNER_INPUT_LABELS": ",".join(labels),
            }
            group = reg.extra.get("runner_group", "")  # type: ignore[attr-defined]
            if group and group != "Default":  # an organization's other group, by name
                env["ACTIONS_RUNNER_INPUT_RUNNERGROUP"] = group
            pre = f"/bin/bash -c 'test -f .runner || exec {home}/config.sh --unattended --replace'"
        restart = "no" if single else "on-failure"
        unit = _unit(forge, "runner", home, f"{home}/run.sh", restart, pre)
        # An ephemeral (JIT) runner is deleted by GitHub after its job; an unused one, or a
        # non-ephemeral one, is unregistered by 'runner destroy' or 'gc' (GitHub offers no
        # removal that the runner's own credentials can make).
        return AgentPlan(forge, "github", "runner", env_file(env), {unit_path: ("0644", unit)})
    if forge == "gitlab":
        binary = "/usr/local/bin/gitlab-runner"
        # registered once: a restarted agent finds its runner in the config and does not add
        # a second [[runners]] entry with the same token ("runners]]" is the end of that
        # table's header, and no glob for the shell, no escape for systemd)
        register = (
            f"{binary} register --non-interactive --config {GITLAB_CONFIG} "
            f"--template-config {GITLAB_TEMPLATE} --executor shell --name {name}"
        )
        pre = f"/bin/bash -c 'grep -qsF runners]] {GITLAB_CONFIG} || exec {register}'"
        run = f"{binary} run --config {GITLAB_CONFIG} --user gitlab-runner"
        run += " --working-directory /home/gitlab-runner"
        env = {"CI_SERVER_URL": reg.url, "CI_SERVER_TOKEN": token}  # type: ignore[attr-defined]
        return AgentPlan(
            forge,
            "gitlab",
            "gitlab-runner",
            env_file(env),
            {
                GITLAB_TEMPLATE: ("0644", gitlab_template()),
                unit_path: ("0644", _unit(forge, "root", "/", run, "on-failure", pre)),
            },
            busy_probe="pgrep -u gitlab-runner",
            # the runner's own token (not the user's) is all 'unregister' needs
            unregister=f"#!/bin/bash\nexec {binary} unregister --config {GITLAB_CONFIG} "
            "--all-runners\n",
        )
    extra = dict(reg.extra)  # type: ignore[attr-defined]
    home = "/opt/atlassian-bitbucket-pipelines-runner"
    # the UUIDs Bitbucket.runner_registration looked up (braced): the workspace's is the
    # account; a workspace runner has no repository and starts without --repositoryUuid
    env = {
        "ACCOUNT_UUID": extra["account_uuid"],
        "RUNNER_UUID": reg.runner_id,  # type: ignore[attr-defined]
        "OAUTH_CLIENT_ID": extra.get("client_id", ""),
        "OAUTH_CLIENT_SECRET": token,
    }
    if extra.get("repository_uuid"):
        env["REPOSITORY_UUID"] = extra["repository_uuid"]
    start = bitbucket_start(env, home, BITBUCKET_WORKDIR)
    return AgentPlan(
        forge,
        "bitbucket",
        "bitbucket",
        env_file(env),
        {
            BITBUCKET_START: ("0755", start),
            unit_path: ("0644", _unit(forge, "bitbucket", home, BITBUCKET_START, "on-failure")),
        },
        busy_probe='pgrep -u bitbucket -P "$(pgrep -u bitbucket -o java)"',
    )
