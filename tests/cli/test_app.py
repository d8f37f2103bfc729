"""The root command: discovery, global options, CML-style env vars, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
import typer.testing

from cmlinfra.cli.app import add_cml_envvars, build_command, command_modules, invoked_module
from tests.fixtures.cli import cli_env

HEAVY = (
    "boto3",
    "botocore",
    "paramiko",
    "cdktn",
    "jsii",
    "jinja2",
    "matplotlib",
    "requests",
    "google",
    "googleapiclient",
    "httplib2",
    "azure",
    "kubernetes",
)


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


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["stack", "plan", "--cloud", "lxd"], "stack"),
        (["--log", "debug", "--json", "runner", "list"], "runner"),
        (["--log", "stack", "pr", "create"], "pr"),  # --log's value is not the command
        (["--help"], None),
        (["stak", "plan"], None),
        ([], None),
    ],
)
def test_only_the_invoked_command_module_is_built(argv: list[str], module: str | None) -> None:
    assert invoked_module(argv) == module
    built = build_command(module).commands
    assert sorted(built) == ([module] if module else command_modules())


def test_options_get_cml_env_vars() -> None:
    app = typer.Typer()
    group = typer.Typer()

    @group.command("launch")
    def launch(
        cloud: str = typer.Option("aws", "--cloud"), idle_timeout: int = typer.Option(300)
    ) -> None:
        typer.echo(f"{cloud} {idle_timeout}")

    @group.command("list")
    def _list(token: str = typer.Option("", envvar="REPO_TOKEN")) -> None:
        typer.echo(token)

    app.add_typer(group, name="runner")
    add_cml_envvars(app)
    invoke = typer.testing.CliRunner().invoke
    env = {"CML_RUNNER_CLOUD": "lxd", "CML_RUNNER_IDLE_TIMEOUT": "60"}
    assert invoke(app, ["runner", "launch"], env=env).output.strip() == "lxd 60"
    assert invoke(app, ["runner", "launch", "--cloud", "aws"], env=env).output.strip() == "aws 60"
    # an explicit envvar wins over the generated one
    result = invoke(app, ["runner", "list"], env={"REPO_TOKEN": "t", "CML_RUNNER_TOKEN": "x"})
    assert result.output.strip() == "t"
    assert "CML_RUNNER_CLOUD" in invoke(app, ["runner", "launch", "--help"]).output


def _exposed_groups() -> list[str]:
    command = build_command()
    return sorted(getattr(command, "commands", {}))


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


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--json", "runner", "launch", "--cloud", "lxd"], {}, True),
        (["--log", "debug", "runner", "launch", "--cloud=aws"], {}, True),
        (["runner", "launch"], {"CML_RUNNER_CLOUD": "aws"}, True),
        (["exec", "--", "python", "train.py"], {}, True),
        (["runner", "launch"], {}, False),  # no cloud: this machine is the runner
        (["runner", "launch", "--cloud", "lxd", "--help"], {}, False),
        (["runner", "destroy", "--all"], {}, False),
        (["--help"], {}, False),
    ],
)
def test_only_commands_that_synthesize_start_cdktn_early(argv, env, expected) -> None:
    """cdktn's start-up overlaps typer's for launch and exec, and never costs anything else
    (``--help`` above all: it must import no heavy module)."""
    from cmlinfra.cli.app import synthesizes

    assert synthesizes(argv, env) is expected
