"""The agent units and setup scripts for every forge, as an AWS (or any) machine gets them:
registration material only in the root-only EnvironmentFile, never in a unit, a script or a
command line; units valid for systemd; scripts shellcheck-clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cmlinfra.forges.base import RunnerRegistration
from cmlinfra.runner.agents import BITBUCKET_START, ENV_FILE, UNIT, plan_agent
from cmlinfra.runner.watchdog import WatchdogPolicy, render_install
from cmlinfra.secrets import Secret
from tests.runner.envfile import parse_env_file

MATERIAL = "very-secret-registration-material-42"


def registration(forge: str, kind: str) -> RunnerRegistration:
    return RunnerRegistration(
        forge=forge,
        kind=kind,  # type: ignore[arg-type]
        url=f"https://{forge}.test/acme/ml",
        token=Secret(MATERIAL),
        runner_id="17",
        extra={"client_id": "cid", "account_uuid": "{a}", "repository_uuid": "{r}"},
    )


CASES = [
    ("github", "jit-config", True),
    ("github", "registration-token", False),
    ("gitlab", "runner-token", False),
    ("bitbucket", "oauth-client", False),
]


@pytest.mark.parametrize(("forge", "kind", "single"), CASES)
def test_material_only_in_the_environment_file(forge: str, kind: str, single: bool) -> None:
    plan = plan_agent(
        registration(forge, kind), name="cml-a1", labels=["cml", "gpu"], single=single
    )
    assert MATERIAL in plan.env.reveal()
    assert MATERIAL not in repr(plan)
    public = [plan.setup_script(), plan.start_script(), plan.unregister, plan.busy_probe]
    public += [text for _, text in plan.files.values()]
    assert all(MATERIAL not in text for text in public)
    unit = plan.files[f"/etc/systemd/system/{UNIT}"][1]
    assert f"EnvironmentFile={ENV_FILE}" in unit
    policy = WatchdogPolicy(
        agent_unit=UNIT,
        agent_user=plan.user,
        busy_probe=plan.busy_probe,
        unregister=plan.unregister,
    )
    assert MATERIAL not in render_install(policy)


@pytest.mark.parametrize(("forge", "kind", "single"), CASES)
def test_units_verify_and_scripts_pass_shellcheck(
    tmp_path: Path, forge: str, kind: str, single: bool
) -> None:
    plan = plan_agent(registration(forge, kind), name="cml-a1", labels=["cml"], single=single)
    unit = plan.files[f"/etc/systemd/system/{UNIT}"][1]
    # verify needs the referenced programs to exist here: point them at /bin/true
    programs = ("/opt/actions-runner/run.sh", "/usr/local/bin/gitlab-runner", "/bin/bash")
    for path in (*programs, BITBUCKET_START):
        unit = unit.replace(path, "/bin/true")
    unit = unit.replace(ENV_FILE, str(tmp_path / "agent.env"))
    (tmp_path / "agent.env").write_text("")
    (tmp_path / UNIT).write_text(unit)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / UNIT)], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr
    (tmp_path / "setup.sh").write_text("#!/bin/bash\n" + plan.setup_script())
    scripts = [tmp_path / "setup.sh"]
    if plan.unregister:
        (tmp_path / "unregister").write_text(plan.unregister)
        scripts.append(tmp_path / "unregister")
    if BITBUCKET_START in plan.files:
        (tmp_path / "bitbucket-runner").write_text(plan.files[BITBUCKET_START][1])
        scripts.append(tmp_path / "bitbucket-runner")
    shellcheck = shutil.which("shellcheck")
    assert shellcheck
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_single_github_runner_is_not_restarted_after_its_job() -> None:
    jit = plan_agent(registration("github", "jit-config"), name="a", labels=[], single=True)
    assert "Restart=no" in jit.files[f"/etc/systemd/system/{UNIT}"][1]
    assert "ACTIONS_RUNNER_INPUT_JITCONFIG=" in jit.env.reveal()


def test_organization_runner_group_reaches_config_sh() -> None:
    """An organization's runner group reaches config.sh by name (its --runnergroup takes
    the name, from the environment); the Default group needs no flag."""
    from dataclasses import replace

    extra = {"runner_group": "GPU pool"}
    token = replace(registration("github", "registration-token"), extra=extra)
    plan = plan_agent(token, name="a", labels=["cml"], single=False)
    # quoted: systemd reads the value back with its space
    assert parse_env_file(plan.env.reveal())["ACTIONS_RUNNER_INPUT_RUNNERGROUP"] == "GPU pool"
    default = replace(token, extra={"runner_group": "Default"})
    assert "RUNNERGROUP" not in plan_agent(default, name="a", labels=[], single=False).env.reveal()


def _bitbucket_agent(reg: RunnerRegistration) -> tuple[dict[str, str], str]:
    """The EnvironmentFile (as systemd reads it) and the script the unit starts."""
    plan = plan_agent(reg, name="cml-a1", labels=["cml"], single=False)
    env = parse_env_file(plan.env.reveal())
    unit = plan.files[f"/etc/systemd/system/{UNIT}"][1]
    assert f"ExecStart={BITBUCKET_START}" in unit.splitlines()
    return env, plan.files[BITBUCKET_START][1]


def test_bitbucket_agent_starts_with_the_uuids_looked_up_on_the_forge(forge_repo) -> None:
    """A registration made on the fake Bitbucket (its repository and workspace have UUIDs):
    the agent's environment carries them and its start command passes them on."""
    repo = forge_repo("bitbucket", "acme/ml")
    env, start = _bitbucket_agent(repo.driver().runner_registration(name="cml-a1", labels=[]))
    assert env["ACCOUNT_UUID"] == repo.state.owner_uuid != ""
    assert env["REPOSITORY_UUID"] == repo.state.uuid != ""
    assert env["RUNNER_UUID"] == repo.runners[0].uuid
    for name in ("ACCOUNT_UUID", "REPOSITORY_UUID", "RUNNER_UUID", "OAUTH_CLIENT_SECRET"):
        assert name in start  # read from the environment systemd loaded
    assert repo.state.uuid not in start  # values come from the environment file only


def test_bitbucket_workspace_agent_starts_without_a_repository(forge_repo) -> None:
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect
    from tests.fixtures.forge import WEB

    repo = forge_repo("bitbucket", "acme/ml")
    workspace = repo.server.state.add_owner("bitbucket", "acme")
    forge = connect(detect(repo.env(), repo=f"{WEB['bitbucket']}/acme", owner_ok=True))
    env, _ = _bitbucket_agent(forge.runner_registration(name="cml-a1", labels=[]))
    assert env["ACCOUNT_UUID"] == workspace.uuid != ""
    assert "REPOSITORY_UUID" not in env
