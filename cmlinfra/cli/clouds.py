"""The CLI's view of the cloud registry: ``--cloud`` options whose help lists the registered
clouds, and every cloud's own options (``--cloud-aws-subnet`` …) on the commands that create
machines — declared by the clouds, so a new cloud adds its options without touching a command.

Reads only each cloud's ``INFO`` (stdlib), so ``--help`` imports no SDK.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import typer

from cmlinfra.clouds import DEFAULT_CLOUD, cloud_infos
from cmlinfra.clouds.info import Capabilities, CloudInfo


def _listed(info: CloudInfo) -> str:
    also = f"; also {', '.join(info.aliases)}" if info.aliases else ""
    return f"{info.name} ({info.summary}{also})"


def cloud_list(test: Callable[[Capabilities], bool] = lambda c: True, *, sep: str = ", ") -> str:
    """The clouds whose capabilities pass ``test``, with a few words each."""
    return sep.join(_listed(info) for info in cloud_infos() if test(info.capabilities))


def cloud_names(test: Callable[[Capabilities], bool] = lambda c: True, *, sep: str = ", ") -> str:
    """The names of the clouds whose capabilities pass ``test``."""
    return sep.join(info.name for info in cloud_infos() if test(info.capabilities))


def cloud_option(help: str, default: Any = DEFAULT_CLOUD) -> Any:
    """``--cloud``: a fresh OptionInfo per command (each gets its own ``CML_<GROUP>_CLOUD``)."""
    return typer.Option(default, "--cloud", help=help)


def creating_cloud_help() -> str:
    """``--cloud`` of the commands that create their machine (runner launch, exec)."""
    existing = cloud_names(lambda c: not c.creates_machines, sep=" or ")
    text = f"{cloud_list(lambda c: c.creates_machines)}."
    if existing:
        text += (
            f" An existing machine: 'cmlinfra bootstrap HOST' or 'cmlinfra stack apply "
            f"--cloud {existing.split(' or ')[0]}'."
        )
    return text


def with_cloud_options(after: str = "ssh_cidr") -> Callable[[Callable[..., Any]], Any]:
    """Add every registered cloud's own options to a typer command, after parameter
    ``after`` (else at the end). The command takes them as ``**cloud_options`` (parameter name
    → value); :func:`cloud_option_values` turns those into ``MachineRequest.options``."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        params = [
            p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        extra = [
            inspect.Parameter(
                option.param,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=typer.Option(None, option.flag, *option.aliases, help=option.help),
                annotation=list[str] | None if option.multiple else str | None,
            )
            for info in cloud_infos()
            for option in info.options
        ]
        names = [p.name for p in params]
        at = names.index(after) + 1 if after in names else len(params)
        func.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*params[:at], *extra, *params[at:]]
        )
        func.__annotations__ = {
            **func.__annotations__,
            **{p.name: p.annotation for p in extra},
        }
        return func

    return decorate


def cloud_option_values(params: Mapping[str, Any]) -> dict[str, str | None]:
    """The registered clouds' options found in ``params`` (by parameter name), by flag; an
    option given several times arrives as one comma-separated value."""
    values: dict[str, str | None] = {}
    for info in cloud_infos():
        for option in info.options:
            if option.param not in params:
                continue
            value = params[option.param]
            if isinstance(value, list | tuple):
                value = ",".join(value) if value else None
            values[option.flag] = value
    return values
