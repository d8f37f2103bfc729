"""CML options that have no cmlinfra option of their own, in one table.

A workflow migrating from iterative/cml may still pass them (or set ``CML_RUNNER_…``). Each is
recognised — never typer's bare "No such option" — and either accepted (a no-op where cmlinfra
already behaves the way the option asks; CML's per-command ``--log`` mapped onto the global
one), or refused with a one-line ``UsageError`` saying why and what to use instead, before
anything is created. (CML's ``--log`` after the command is moved to the root by
cmlinfra/cli/cml.py before any of this runs.) They stay out of ``--help``
(hidden); docs/migrating-from-cml.md lists them. Stdlib and typer only: imported by CLI modules.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer


def _use_a_cloud() -> str:
    """The fix for a CML option of a cloud cmlinfra lacks: the clouds that create machines."""
    from cmlinfra.clouds import names_where

    return f"use --cloud {' or '.join(names_where(lambda c: c.creates_machines))}"


@dataclass(frozen=True)
class Compat:
    """One CML option: ``fix`` None means accepted (``why`` says why ignoring it is right, or
    ``apply`` gives it its cmlinfra meaning); otherwise given → refused with ``why`` and
    ``fix``."""

    option: str  # CML's spelling, e.g. --cloud-ssh-private
    why: str
    fix: str | None = None
    flag: bool = False  # a boolean switch in CML
    aliases: tuple[str, ...] = ()
    apply: Callable[[str], None] | None = None

    @property
    def param(self) -> str:
        return "cml_" + self.option.lstrip("-").replace("-", "_")


RUNNER_LAUNCH: tuple[Compat, ...] = (
    Compat(
        "--destroy-delay",
        "a failed launch streams its logs live and tears down at once; nothing to wait for",
    ),
    Compat(
        "--cloud-ssh-private",
        "every stack gets its own generated key pair, kept in $CMLINFRA_HOME/stacks/NAME",
        "drop it; to reach a machine use that stack's key, or 'cmlinfra stack apply "
        "--cloud ssh --ssh-key-file' for a machine you own",
    ),
    Compat(
        "--docker-volumes",
        "runners run jobs with the forge's own agent on the machine, not a GitLab docker executor",
        "mount volumes in the job itself (docker run -v …)",
    ),
    Compat(
        "--workdir",
        "the launcher keeps each machine's Terraform stack in $CMLINFRA_HOME/stacks/NAME",
        "drop it, or set CMLINFRA_HOME",
        aliases=("--path",),
    ),
    Compat(
        "--runner-path",
        "the launcher keeps each machine's Terraform stack in $CMLINFRA_HOME/stacks/NAME",
        "drop it, or set CMLINFRA_HOME",
    ),
    Compat(
        "--tpi-version",
        "cmlinfra composes its own Terraform modules; no iterative provider to pin "
        "(--terraform chooses the terraform or tofu binary)",
    ),
    Compat(
        "--tf-resource",
        "cmlinfra composes its own Terraform modules, without the iterative provider",
        "drop it; 'cmlinfra stack render' shows the configuration it applies",
    ),
    Compat(
        "--cml-version",
        "the machine needs no CML: cmlinfra drives it over SSH from the launcher",
    ),
    Compat(
        "--gcp-access-token",
        "a token on the command line is visible to every process on the machine",
        "for --cloud gcp set GOOGLE_APPLICATION_CREDENTIALS (or CML's "
        "GOOGLE_APPLICATION_CREDENTIALS_DATA), or use workload identity federation",
    ),
)


def _option(entry: Compat) -> tuple[Any, Any]:
    """(typer.Option, annotation) for one hidden compatibility option."""
    if entry.flag:
        return typer.Option(False, entry.option, *entry.aliases, hidden=True), bool
    return typer.Option(None, entry.option, *entry.aliases, hidden=True), str | None


def check(table: tuple[Compat, ...], given: dict[str, Any]) -> None:
    """Raise the refusal of the first refused option that was given, then apply the accepted
    ones that have a meaning here; no-ops pass."""
    from cmlinfra.errors import UsageError

    present = [e for e in table if given.get(e.param) not in (None, False)]
    for entry in present:
        if entry.fix is not None:
            raise UsageError(f"{entry.option} is not supported: {entry.why}", entry.fix)
    for entry in present:
        if entry.apply is not None:
            entry.apply(given[entry.param])


def accepts(table: tuple[Compat, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add ``table``'s options (hidden) to a typer command; the command itself never sees
    them: the wrapper checks them first and passes the rest on."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        extra, annotations = [], {}
        for entry in table:
            default, annotation = _option(entry)
            kind = inspect.Parameter.KEYWORD_ONLY
            extra.append(
                inspect.Parameter(entry.param, kind, default=default, annotation=annotation)
            )
            annotations[entry.param] = annotation

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check(table, {entry.param: kwargs.pop(entry.param, None) for entry in table})
            return func(*args, **kwargs)

        params = [*signature.parameters.values(), *extra]
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**func.__annotations__, **annotations}
        return wrapper

    return decorate
