"""The root command: discovery, global options, CML-style env vars, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
import typer
import typer.testing

from cmlinfra.cli.app import add_cml_envvars, build_command
from tests.fixtures.cli import cli_env

HEAVY = ("boto3", "botocore", "paramiko", "cdktn", "jsii", "jinja2", "matplotlib", "requests")


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys; from cmlinfra.cli.app import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version(cli) -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("cmlinfra ")


def test_unknown_command_is_a_usage_error(cli) -> None:
    result = cli("launch-rockets")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_options_get_cml_env_vars() -> None:
    app = typer.Typer()
    group = typer.Typer()

    @group.command("launch")
    def launch(cloud: str = typer.Option("aws", "--cloud"), idle_timeout: int = 300) -> None:
        typer.echo(f"{cloud} {idle_timeout}")

    @group.command("list")
    def _list() -> None: ...

    app.add_typer(group, name="runner")
    command = typer.main.get_command(app)
    add_cml_envvars(command)
    assert isinstance(command, click.Group)
    runner = command.commands["runner"]
    assert isinstance(runner, click.Group)
    params = {p.name: p.envvar for p in runner.commands["launch"].params}
    assert params == {"cloud": "CML_RUNNER_CLOUD", "idle_timeout": "CML_RUNNER_IDLE_TIMEOUT"}

    result = typer.testing.CliRunner().invoke(
        command, ["runner", "launch"], env={"CML_RUNNER_CLOUD": "lxd"}
    )
    assert result.output.strip() == "lxd 300"


def _exposed_groups() -> list[str]:
    command = build_command()
    return sorted(command.commands) if isinstance(command, click.Group) else []


@pytest.mark.parametrize("group", _exposed_groups())
def test_every_exposed_command_has_help(cli, group: str) -> None:
    result = cli(group, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize("group", _exposed_groups())
def test_bad_log_level_is_one_line_usage_error(cli, group: str) -> None:
    result = cli("--log", "loud", group, "--help")
    assert result.returncode == 2
    assert "--log" in result.stderr
