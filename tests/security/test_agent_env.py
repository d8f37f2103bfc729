"""Findings 2 and 5: the runner agent's environment file and command line.

2. ``--labels`` (and any value written to ``agent.env``) could add lines: ``LD_PRELOAD=…`` or
   a second ``ACTIONS_RUNNER_INPUT_URL`` sending the registration token elsewhere. Labels are
   now checked as each forge defines them, and the file is written with the quoting systemd
   reads back as the same values — proven with the real systemd of an LXD container.
5. The Bitbucket runner's OAuth client secret was on its command line (``start.sh
   --OAuthClientSecret …``, which passes it on to ``java -D…``). Now runner.jar gets it in a
   Java argument file read from a pipe — proven by starting the real unit under the
   container's systemd, with a stand-in ``java`` (the runner itself cannot be downloaded here),
   and reading every process's ``/proc/PID/cmdline``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmlinfra.forges.base import RunnerRegistration
from cmlinfra.secrets import Secret
from tests.security.attacks import assert_refused

IMAGE = "cmlinfra-debian-12"
# (--labels is split at commas and each label stripped: these survive that)
EVIL_LABELS = {
    "github": ["cml\nLD_PRELOAD=/tmp/evil.so", "cml\nACTIONS_RUNNER_INPUT_URL=https://evil", "a b"],
    "gitlab": ["cml\nLD_PRELOAD=/tmp/evil.so", "red\x1b[31m", "x" * 300],
    "bitbucket": ["cml\nLD_PRELOAD=/tmp/evil.so", "GPU", "cml-gpu"],
}
# Were a label let through, the launch would stop at the AWS API, a closed port: never a machine
NOWHERE = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "label"), [(k, label) for k, labels in EVIL_LABELS.items() for label in labels]
)
def test_labels_the_forge_would_not_take_are_refused_first(
    cli, forge, forge_repo, tmp_path: Path, kind: str, label: str
) -> None:
    repo = forge_repo(kind)
    env = {**repo.env(), **NOWHERE, "CMLINFRA_HOME": str(tmp_path / "home")}
    result = cli(
        "runner", "launch", "--cloud", "aws", "--name", "cmlt-labels", "--labels", label,
        "--state", str(tmp_path / "registry"), env=env,
    )  # fmt: skip
    assert_refused(result, "is not a valid", "runner label")
    assert forge.api_calls() == []  # nothing sent
    assert not any(tmp_path.rglob("*")), "nothing created"


# -- the real systemd --------------------------------------------------------------------------


def _lxc(*args: str, input: bytes | None = None, check: bool = True) -> str:
    done = subprocess.run(["lxc", *args], input=input, capture_output=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"lxc {' '.join(args)}: {done.stderr.decode().strip()}")
    return done.stdout.decode()


def _run(name: str, script: str) -> str:
    return _lxc("exec", name, "--", "bash", "-c", script)


@pytest.fixture(scope="module")
def machine(lxd) -> Iterator[str]:
    """One container with a booted systemd, for the whole module."""
    name = lxd.name("agentenv")
    _lxc("launch", IMAGE, name)
    try:
        deadline = time.monotonic() + 120
        while True:
            state = _lxc("exec", name, "--", "systemctl", "is-system-running", check=False)
            if state.strip() in ("running", "degraded"):
                break
            assert time.monotonic() < deadline, f"systemd in {name} did not finish booting"
            time.sleep(0.5)
        yield name
    finally:
        _lxc("delete", "--force", name, check=False)


TRICKY = {
    "QUOTES": "a\"b'c",
    "BACKSLASHES": "a\\b\\\\c\\",
    "DOLLARS": "$HOME ${PATH} $(id) `id`",
    "SPACES": "  leading and trailing  ",
    "COMMENT": "#not-a-comment ;neither",
    "EQUALS": "a=b=c",
    "UNICODE": "żółw ☃",
    "LABELS": "cml,gpu.a100,x86_64",
    "EMPTY": "",
}


def test_systemd_reads_the_env_file_back_as_written(machine: str) -> None:
    from cmlinfra.runner.agents import env_file

    _lxc("file", "push", "-", f"{machine}/root/agent.env", input=env_file(TRICKY).reveal().encode())
    unit = (
        "[Service]\nType=oneshot\nEnvironmentFile=/root/agent.env\n"
        "ExecStart=/bin/sh -c 'env -0 >/root/agent.seen'\n"
    )
    _lxc("file", "push", "-", f"{machine}/run/systemd/system/cmlt-envfile.service",
         input=unit.encode())  # fmt: skip
    _run(machine, "systemctl daemon-reload && systemctl start cmlt-envfile.service")
    pairs = _run(machine, "cat /root/agent.seen").split("\0")
    seen = dict(pair.split("=", 1) for pair in pairs if pair)
    assert {k: seen.get(k) for k in TRICKY} == TRICKY


def test_a_line_break_can_never_reach_the_env_file() -> None:
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.runner.agents import plan_agent

    registration = RunnerRegistration(
        forge="github", kind="registration-token", url="https://github.test/acme/ml",
        token=Secret("AAAAregistrationtoken"),
    )  # fmt: skip
    with pytest.raises(CmlinfraError, match="line break") as refused:
        plan_agent(registration, name="cml-a", labels=["cml\nLD_PRELOAD=/x.so"], single=False)
    assert "LD_PRELOAD" not in str(refused.value)


SECRET = "bbOAuthSecretCanary0123456789"
FAKE_JAVA = """#!/bin/bash
# stands in for java: keeps the settings it was given, then runs on (with its command line)
for arg in "$@"; do
  if [[ $arg == @* ]]; then cat "${arg#@}" >/tmp/java-settings; fi
done
touch /tmp/agent-started
sleep 300 &
wait
"""


def test_the_bitbucket_secret_is_never_on_a_command_line(machine: str) -> None:
    from cmlinfra.runner.agents import ENV_FILE, UNIT, plan_agent

    registration = RunnerRegistration(
        forge="bitbucket", kind="oauth-client", url="https://bitbucket.test/acme/ml",
        token=Secret(SECRET), runner_id="{6a1d31bc-7f0e-4e0a-9d9b-0d4bd7e6c001}",
        extra={"client_id": "clientid42", "account_uuid": "{6a1d31bc-7f0e-4e0a-9d9b-0d4bd7e6c002}"},
    )  # fmt: skip
    plan = plan_agent(registration, name="cml-a", labels=["cml"], single=False)
    home = "/opt/atlassian-bitbucket-pipelines-runner"
    _run(machine, f"mkdir -p {home}/bin /usr/local/bin && touch {home}/bin/runner.jar")
    _lxc("file", "push", "-", f"{machine}/usr/local/bin/java", "--mode", "0755",
         input=FAKE_JAVA.encode())  # fmt: skip
    # the runner's own start.sh would take the secret as an option (main did that): here it
    # behaves like java, so a secret passed to it shows up in its command line too
    _lxc("file", "push", "-", f"{machine}{home}/bin/start.sh", "--mode", "0755",
         input=FAKE_JAVA.encode())  # fmt: skip
    _lxc("file", "push", "-", f"{machine}{ENV_FILE}", "--mode", "0600", "--create-dirs",
         input=plan.env.reveal().encode())  # fmt: skip
    _lxc("file", "push", "-", f"{machine}/root/setup.sh", input=plan.setup_script().encode())
    _run(machine, f"rm -f /tmp/agent-started && bash /root/setup.sh && systemctl start {UNIT}")
    try:
        deadline = time.monotonic() + 60
        while _run(machine, "test -e /tmp/agent-started && echo yes || true").strip() != "yes":
            assert time.monotonic() < deadline, _run(machine, f"journalctl -u {UNIT} | tail")
            time.sleep(0.2)
        cmdlines = _run(machine, "cat /proc/[0-9]*/cmdline | tr '\\0' '\\n'")
        assert SECRET not in cmdlines, "the OAuth client secret is on a command line"
        settings = _run(machine, "cat /tmp/java-settings")
        assert f'"-Dbitbucket.pipelines.runner.oauth.client.secret={SECRET}"' in settings
        assert '"-Dbitbucket.pipelines.runner.oauth.client.id=clientid42"' in settings
    finally:
        _run(machine, f"systemctl stop {UNIT} || true")


def test_the_container_supervisor_reads_the_env_file_back_as_written(tmp_path: Path) -> None:
    """Where there is no systemd (a Kubernetes pod) the supervisor script reads agent.env in
    its place: its own reader, run by POSIX sh (dash), yields the same values as systemd."""
    import re

    from cmlinfra.runner.agents import env_file
    from cmlinfra.runner.supervisor import AgentService, render_supervisor

    service = AgentService(user="runner", workdir="/", env_file="/x/agent.env", command="true")
    script = render_supervisor(service, interval=5)
    [reader] = re.findall(r"^load_env\(\) \{\n.*?^\}\n", script, flags=re.S | re.M)
    (tmp_path / "agent.env").write_text(env_file(TRICKY).reveal())
    probe = tmp_path / "probe.sh"
    probe.write_text(f'say() {{ echo "$*" >&2; }}\n{reader}load_env "$1"\nenv -0\n')
    done = subprocess.run(
        ["sh", str(probe), str(tmp_path / "agent.env")], capture_output=True, check=True, env={}
    )
    pairs = done.stdout.decode().split("\0")
    seen = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    assert {k: seen.get(k) for k in TRICKY} == TRICKY
