"""The root ``cmlinfra`` command: global options, command discovery, error handling.

Every option of every command can also come from ``CML_<GROUP>_<OPTION>`` (for example
``CML_RUNNER_CLOUD`` for ``runner launch --cloud``), as in CML; the variable is shown in
``--help``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import traceback
from collections.abc import Sequence

import click
import typer

from cmlinfra import __version__
from cmlinfra.cli import commands
from cmlinfra.cli.common import Settings
from cmlinfra.errors import CmlinfraError
from cmlinfra.ui import LEVELS, configure_logging

HELP = """Continuous machine learning in CI: provision GPU runners with Terraform, bootstrap
them over SSH, run training, tear everything down, and post the report to the pull request."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cmlinfra {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The typer app with every command module in ``cmlinfra.cli.commands`` registered."""
    app = typer.Typer(
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        log: str = typer.Option(
            "info", "--log", envvar="CML_LOG", help=f"Log level: {', '.join(LEVELS)}."
        ),
        as_json: bool = typer.Option(
            False, "--json", envvar="CML_JSON", help="Machine-readable JSON on stdout."
        ),
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version."
        ),
    ) -> None:
        if log not in LEVELS:
            raise typer.BadParameter(f"choose one of {', '.join(LEVELS)}", param_hint="--log")
        configure_logging(log)
        ctx.obj = Settings(as_json=as_json, log_level=log)

    for module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"{commands.__name__}.{module}").register(app)
    return app


def _env_name(*parts: str) -> str:
    return "_".join(p.upper().replace("-", "_") for p in parts)


def add_cml_envvars(command: click.Command, group: str | None = None) -> None:
    """Give every option without an explicit ``envvar`` the CML-style ``CML_<GROUP>_<OPTION>``."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar is None and group is not None:
            long = next((o for o in param.opts if o.startswith("--")), None)
            if long:
                param.envvar = _env_name("CML", group, long[2:])
                param.show_envvar = True
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            add_cml_envvars(sub, group if group is not None else name)


def build_command() -> click.Command:
    command = typer.main.get_command(build_app())
    add_cml_envvars(command)
    return command


def _debug_enabled() -> bool:
    return logging.getLogger("cmlinfra").isEnabledFor(logging.DEBUG)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command, turn known failures into one line and an exit code."""
    command = build_command()
    try:
        result = command.main(
            args=list(argv) if argv is not None else None,
            prog_name="cmlinfra",
            standalone_mode=False,
        )
    except click.exceptions.Abort:
        click.echo("cmlinfra: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CmlinfraError as exc:
        if _debug_enabled():
            traceback.print_exc()
        click.echo(f"cmlinfra: error: {exc.line()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("cmlinfra: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: keep the line short unless asked for details
        if _debug_enabled():
            traceback.print_exc()
        from cmlinfra.secrets import redact

        click.echo(
            f"cmlinfra: internal error: {type(exc).__name__}: {redact(str(exc))} "
            "(run with --log debug for the traceback, and please report it)",
            err=True,
        )
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)
