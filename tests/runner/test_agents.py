"""The agent units and setup scripts for every forge, as an AWS (or any) machine gets them:
registration material only in the root-only EnvironmentFile, never in a unit, a script or a
command line; units valid for systemd; scripts shellcheck-clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cmlinfra.forges.base import RunnerRegistration
from cmlinfra.runner.agents import ENV_FILE, UNIT, plan_agent
from cmlinfra.runner.watchdog import WatchdogPolicy, render_install
from cmlinfra.secrets import Secret

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
    for path in ("/opt/actions-runner/run.sh", "/usr/local/bin/gitlab-runner", "/bin/bash"):
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
    shellcheck = shutil.which("shellcheck")
    assert shellcheck
    result = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_single_github_runner_is_not_restarted_after_its_job() -> None:
    jit = plan_agent(registration("github", "jit-config"), name="a", labels=[], single=True)
    assert "Restart=no" in jit.files[f"/etc/systemd/system/{UNIT}"][1]
    assert "ACTIONS_RUNNER_INPUT_JITCONFIG=" in jit.env.reveal()


def test_organization_and_workspace_runners_register_at_their_level() -> None:
    """An organization's runner group reaches config.sh (its --runnergroup, from the
    environment); a Bitbucket workspace runner starts without a repository."""
    from dataclasses import replace

    token = replace(registration("github", "registration-token"), extra={"runner_group": "3"})
    plan = plan_agent(token, name="a", labels=["cml"], single=False)
    assert "ACTIONS_RUNNER_INPUT_RUNNERGROUP=3\n" in plan.env.reveal()
    default = replace(token, extra={"runner_group": "1"})
    assert "RUNNERGROUP" not in plan_agent(default, name="a", labels=[], single=False).env.reveal()
    bitbucket = registration("bitbucket", "oauth-client")
    units = {
        scope: plan_agent(replace(bitbucket, extra=extra), name="a", labels=[], single=False).files[
            f"/etc/systemd/system/{UNIT}"
        ][1]
        for scope, extra in (("repo", {"repository": "acme/ml"}), ("ws", {"workspace": "acme"}))
    }
    assert "--repositoryUuid" in units["repo"] and "--repositoryUuid" not in units["ws"]
