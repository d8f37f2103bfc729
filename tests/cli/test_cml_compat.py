"""Every ``cml runner launch`` option a migrating workflow may pass is recognised: supported,
accepted as a documented no-op, or refused in one line before anything exists — never typer's
bare "No such option". Real CLI subprocesses (CI runs them so)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmlinfra.cli.compat import RUNNER_LAUNCH, Compat
from tests.fixtures.cli import CliRunner

FORGE = ["--driver", "github", "--repo", "https://github.com/acme/ml", "--token", "unused"]
REFUSED = [entry for entry in RUNNER_LAUNCH if entry.fix is not None]
NOOPS = [entry for entry in RUNNER_LAUNCH if entry.fix is None and entry.apply is None]


def _nothing_left(root: Path) -> None:
    left = [p for p in root.rglob("*") if p.is_file()]
    assert left == [], f"a refused launch left {left}"


def _world(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    state = tmp_path / "state"
    return ["--cloud", "lxd", "--name", "cml-compat", "--state", str(state), *FORGE], {
        "CMLINFRA_HOME": str(tmp_path / "home")
    }


@pytest.mark.parametrize("entry", REFUSED, ids=lambda e: e.option)
def test_refused_options_are_one_line_and_create_nothing(
    cli: CliRunner, tmp_path: Path, entry: Compat
) -> None:
    args, env = _world(tmp_path)
    given = [entry.option] if entry.flag else [entry.option, "value"]
    result = cli("runner", "launch", *args, *given, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cmlinfra: error: {entry.option} is not "), (
        lines
    )
    assert entry.fix in lines[0] and "No such option" not in result.stderr
    _nothing_left(tmp_path)


def test_cml_env_var_forms_are_recognised_too(cli: CliRunner, tmp_path: Path) -> None:
    """CML reads CML_RUNNER_<OPTION>; a refused one set that way is refused the same way."""
    args, env = _world(tmp_path)
    result = cli("runner", "launch", *args, env={**env, "CML_RUNNER_CLOUD_SSH_PRIVATE": "KEY"})
    assert result.returncode == 2
    assert "--cloud-ssh-private is not supported" in result.stderr
    subnet = cli("runner", "launch", *args, env={**env, "CML_RUNNER_CLOUD_AWS_SUBNET": "subnet-1"})
    assert subnet.stderr.strip().splitlines() == [
        "cmlinfra: error: --cloud-aws-subnet is an AWS option, not one of --cloud lxd; "
        "drop --cloud-aws-subnet, or launch with --cloud aws"
    ]
    _nothing_left(tmp_path)


def test_noops_are_accepted(cli: CliRunner, tmp_path: Path) -> None:
    """The no-ops parse (flag, value, env form) and the launch goes on: here to the next check,
    which refuses a runner that could never end — proof they were not what stopped it."""
    args, env = _world(tmp_path)
    given = [a for e in NOOPS for a in ([e.option] if e.flag else [e.option, "10"])]
    result = cli("runner", "launch", *args, *given, "--idle-timeout", "-1",
                 env={**env, "CML_RUNNER_DESTROY_DELAY": "10"})  # fmt: skip
    assert result.returncode == 2
    assert "--idle-timeout never without --single or --max-ttl would never end" in result.stderr
    _nothing_left(tmp_path)


def test_log_after_the_command_works_like_the_global_one(cli: CliRunner, tmp_path: Path) -> None:
    """CML's ``cml runner launch --log debug``: debug output (the traceback of the one-line
    error) appears; a bad level is one line."""
    args, env = _world(tmp_path)
    quiet = cli("runner", "launch", *args, "--idle-timeout", "never", env=env)
    loud = cli("runner", "launch", *args, "--idle-timeout", "never", "--log", "debug", env=env)
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    bad = cli("runner", "launch", *args, "--log", "verbose", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "cmlinfra: error: --log 'verbose' is not a level; choose one of error, warn, info, debug"
    ]


def test_startup_script_must_be_base64(cli: CliRunner, tmp_path: Path) -> None:
    args, env = _world(tmp_path)
    for value, problem in [("not base64!", "is not base64"), ("ICAK", "decodes to an empty")]:
        result = cli("runner", "launch", *args, "--cloud-startup-script", value, env=env)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and f"--cloud-startup-script {problem}" in lines[0], lines
    _nothing_left(tmp_path)


def test_help_lists_supported_options_but_not_refused_ones(cli: CliRunner) -> None:
    text = cli("runner", "launch", "--help", env={"COLUMNS": "200"}).stdout
    assert "--cloud-aws-subnet" in text and "--cloud-startup-script" in text
    hidden = [e.option for e in RUNNER_LAUNCH if e.option != "--log"]
    assert not [option for option in hidden if f"{option} " in text]
