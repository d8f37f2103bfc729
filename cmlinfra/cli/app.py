"""The root ``cmlinfra`` command: global options, command discovery, error handling.

Every option of every command can also come from ``CML_<GROUP>_<OPTION>`` (for example
``CML_RUNNER_CLOUD`` for ``runner launch --cloud``), as in CML; the variable is shown in
``--help``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import typer
from typer.models import OptionInfo

from cmlinfra import __version__
from cmlinfra.cli import commands
from cmlinfra.cli.common import Settings
from cmlinfra.cli.forge_common import TOKEN_MARK, TOKEN_NAMES
from cmlinfra.errors import CmlinfraError
from cmlinfra.ui import LEVELS, configure_logging

HELP = """Continuous machine learning in CI: provision GPU runners with Terraform, bootstrap
them over SSH, run training, tear everything down, and post the report to the pull request."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cmlinfra {__version__}")
        raise typer.Exit()


def command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__))


def invoked_module(argv: Sequence[str]) -> str | None:
    """The command module the arguments name (``stack`` in ``--log debug stack plan``), or None
    (root ``--help``, a typo). Building a group costs typer a pydantic adapter per option, so
    ``cmlinfra stack …`` builds only ``stack`` (benchmarks/bench_cli.py)."""
    args = iter(argv)
    for arg in args:
        if arg == "--log":
            next(args, None)
        elif not arg.startswith("-"):
            return arg if arg in command_modules() else None
    return None


def synthesizes(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """Whether the command will synthesize a stack (``runner launch --cloud …``, ``exec``): then
    cdktn's start-up (≈ 0.5 s, mostly node) can begin while typer builds the command."""
    if {"-h", "--help"} & set(argv):
        return False
    values = {i + 1 for i, arg in enumerate(argv) if arg == "--log"}  # --log LEVEL
    words = [a for i, a in enumerate(argv) if not a.startswith("-") and i not in values][:2]
    cloud = any(a == "--cloud" or a.startswith("--cloud=") for a in argv) or env.get(
        "CML_RUNNER_CLOUD"
    )
    return words[:1] == ["exec"] or (words == ["runner", "launch"] and bool(cloud))


def build_app(only: str | None = None) -> typer.Typer:
    """The typer app with every command module in ``cmlinfra.cli.commands`` registered (only
    ``only``, when given: the rest cannot run in this process)."""
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
        if log not in LEVELS:  # one line, wherever --log was written (cli/cml.py moves it)
            from cmlinfra.errors import UsageError

            raise UsageError(f"--log {log!r} is not a level", f"choose one of {', '.join(LEVELS)}")
        configure_logging(log)
        ctx.obj = Settings(as_json=as_json, log_level=log)

    for module in [only] if only else command_modules():
        importlib.import_module(f"{commands.__name__}.{module}").register(app)
    return app


def _env_name(*parts: str) -> str:
    return "_".join(p.upper().replace("-", "_") for p in parts)


def _option_infos(callback: Callable[..., Any]) -> Iterator[tuple[str, OptionInfo]]:
    """(parameter name, OptionInfo) for each option of a typer callback, either style."""
    for name, param in inspect.signature(callback).parameters.items():
        if isinstance(param.default, OptionInfo):
            yield name, param.default
        for meta in getattr(param.annotation, "__metadata__", ()):
            if isinstance(meta, OptionInfo):
                yield name, meta


def add_cml_envvars(app: typer.Typer, group: str | None = None) -> None:
    """Give every option without an explicit ``envvar`` the CML-style ``CML_<GROUP>_<OPTION>``,
    where GROUP is the top-level command (``runner`` for ``runner launch``)."""
    callbacks: list[tuple[str | None, Callable[..., Any] | None]] = [
        (info.name or (info.callback.__name__ if info.callback else None), info.callback)
        for info in app.registered_commands
    ]
    if group is not None and app.registered_callback is not None:
        callbacks.append((group, app.registered_callback.callback))
    for name, callback in callbacks:
        scope = group or (name or "").replace("_", "-")
        for pname, option in _option_infos(callback) if callback else ():
            if option.envvar == [TOKEN_MARK] and scope:
                # the forge token (cli/forge_common.py): CML reads CML_<CMD>_TOKEN and
                # CML_<CMD>_DRIVER_TOKEN before REPO_TOKEN
                option.envvar = [*(_env_name("CML", scope, n) for n in TOKEN_NAMES), TOKEN_MARK]
                continue
            if option.envvar is not None or not scope:
                continue
            decls = [d[2:] for d in (option.param_decls or ()) if d.startswith("--")]
            decls = decls or [pname.replace("_", "-")]
            # every long spelling: CML reads CML_RUNNER_CLOUD_AWS_SUBNET_ID for the alias too
            names = [_env_name("CML", scope, d.partition("/")[0]) for d in decls]
            option.envvar = names[0] if len(names) == 1 else names
            option.show_envvar = True
    for info in app.registered_groups:
        if info.typer_instance is not None:
            add_cml_envvars(info.typer_instance, group or info.name)


def build_command(only: str | None = None) -> Any:
    app = build_app(only)
    add_cml_envvars(app)
    return typer.main.get_command(app)


def _debug_enabled() -> bool:
    return logging.getLogger("cmlinfra").isEnabledFor(logging.DEBUG)


def main(argv: Sequence[str] | None = None, prog_name: str = "cmlinfra") -> None:
    """Entry point: run the command, turn known failures into one line and an exit code.

    CML's spellings and environment are translated first (cmlinfra/cli/cml.py), so ``cml``
    and ``cmlinfra`` accept the same command lines."""
    import os

    from cmlinfra.cli import cml

    raw = list(argv) if argv is not None else sys.argv[1:]
    try:
        translated = cml.translate(raw, prog_name)
        given = cml.alias_environment(os.environ)
        args = translated.argv
        if synthesizes(args, os.environ):
            from cmlinfra.stack.compose import prewarm

            prewarm()
        command = build_command(invoked_module(args))
        for notice in translated.notices:
            cml.warn(notice)
        ignored = cml.ignored_variables(given, os.environ, command) if given else []
        if ignored:
            cml.warn(
                f"{', '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} set but no "
                "cmlinfra option reads "
                f"{'it' if len(ignored) == 1 else 'them'}: ignored (docs/migrating-from-cml.md)"
            )
        command.main(
            args=args,
            prog_name=prog_name,
            standalone_mode=True,  # typer prints usage errors and exits 2 itself
        )
    except CmlinfraError as exc:
        from cmlinfra.secrets import redact

        if _debug_enabled():
            traceback.print_exc()
        typer.echo(f"cmlinfra: error: {redact(exc.line())}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: keep the line short unless asked for details
        if _debug_enabled():
            traceback.print_exc()
        from cmlinfra.secrets import redact

        typer.echo(
            f"cmlinfra: internal error: {type(exc).__name__}: {redact(str(exc))} "
            "(run with --log debug for the traceback, and please report it)",
            err=True,
        )
        sys.exit(70)
