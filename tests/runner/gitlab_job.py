"""A stand-in for GitLab Runner's shell executor running one job (the real runner cannot be
downloaded here), narrow on purpose: only the step that runs the job's ``script``, written the
way GitLab Runner writes it (shells/abstract.go, ``writeUserScript``, and the bash writer):
the job's ``CI_*`` variables exported, ``cd`` into ``CI_PROJECT_DIR``, then the runner's
``pre_build_script``, each line of the job's script and the runner's ``post_build_script``,
under ``set -eo pipefail`` with every command followed by an exit with its status when it
failed, all in one bash reading the script from its standard input. So, as with the real
runner, a script that fails (or a job that is cancelled: its shell killed) never reaches
``post_build_script``. The two hook lines are those of the template cmlinfra registers the
runner with (agents.py); only their directory is moved into the test's temporary root."""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from pathlib import Path

from cmlinfra.runner.agents import gitlab_template
from cmlinfra.runner.watchdog import LIB

CHECK = (
    '_runner_exit_code=$?; if [ "$_runner_exit_code" -ne 0 ]; then exit "$_runner_exit_code"; fi'
)


def hook_lines(root: Path | None) -> tuple[str, str]:
    """``pre_build_script`` and ``post_build_script`` as registered, pointed at ``root``
    (None: as they are, for a machine)."""
    runner = tomllib.loads(gitlab_template())["runners"][0]
    moved = LIB if root is None else str(root) + LIB
    return (
        runner["pre_build_script"].replace(LIB, moved),
        runner["post_build_script"].replace(LIB, moved),
    )


def step_script(root: Path | None, variables: dict[str, str], script: list[str]) -> str:
    pre, post = hook_lines(root)
    lines = ["set -eo pipefail", "set +o noclobber"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in variables.items()]
    lines.append(f"cd {shlex.quote(variables['CI_PROJECT_DIR'])}")
    for command in (pre, *script, post):
        lines += [command, CHECK]
    return "\n".join(lines) + "\n"


def start(
    root: Path, variables: dict[str, str], script: list[str], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The job's shell, running (``CMLINFRA_ROOT``: the hooks' temporary root)."""
    shell = subprocess.Popen(
        ["bash"],
        stdin=subprocess.PIPE,
        env={**os.environ, **(env or {}), "CMLINFRA_ROOT": str(root)},
        text=True,
    )
    assert shell.stdin is not None
    shell.stdin.write(step_script(root, variables, script))
    shell.stdin.close()
    return shell


def run(root: Path, variables: dict[str, str], script: list[str]) -> int:
    """Run the job to its end; its exit status."""
    return start(root, variables, script).wait(timeout=60)
