"""Find every ``cmlinfra …`` command line in CI files and parse it with the real CLI.

Parsing goes through the same click command objects ``cmlinfra`` runs, down to the leaf
command's ``make_context``: an unknown command, an unknown option, a missing argument or a
value of the wrong type fails exactly as it would in CI — without running anything.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import typer

EXPRESSION = re.compile(r"\$\{\{.*?\}\}")  # GitHub Actions ${{ ... }}
VARIABLE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")  # a whole-token $VAR / ${VAR}
REDIRECTS = {">", ">>", "<", ">&", "&>", ">|"}
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")  # FOO=bar cmlinfra ...
PREFIXES = {"exec", "time", "sudo", "env", "then", "do", "else", "!"}
PLACEHOLDER = "1"  # parses as a string, an int and a float alike


def command_lines(script: str) -> list[list[str]]:
    """The argv of each ``cmlinfra`` invocation in a shell snippet (expressions and whole-token
    variables replaced by a placeholder)."""
    text = EXPRESSION.sub(PLACEHOLDER, script).replace("\\\n", " ")
    found: list[list[str]] = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] | None = None
        at_start = True  # the next word is in command position
        redirect = False
        for token in lexer:
            if redirect:  # the target of > file, >> file, < file
                redirect = False
            elif token in REDIRECTS:
                redirect = True
            elif token in OPERATORS:
                current, at_start = None, True
            elif current is not None:
                current.append(PLACEHOLDER if VARIABLE.match(token) else token)
            elif at_start and token == "cmlinfra":
                current = []
                found.append(current)
            elif not (at_start and (ASSIGNMENT.match(token) or token in PREFIXES)):
                at_start = False
    return found


class BadCommandLine(ValueError):
    """The CLI would refuse this command line (typer's vendored click said why)."""


def parse(argv: list[str]) -> str:
    """Parse ``cmlinfra ARGV`` with the real CLI; return the command path (``runner launch``).
    Raises :class:`BadCommandLine` when CI would fail to parse it."""
    try:
        return _parse(argv)
    except BadCommandLine:
        raise
    except Exception as exc:
        if not hasattr(exc, "format_message"):  # not a click usage/parameter error: a bug
            raise
        raise BadCommandLine(exc.format_message() or type(exc).__name__) from exc


def _parse(argv: list[str]) -> str:
    from cmlinfra.cli.app import build_command
    from cmlinfra.cli.cml import normalize_spot

    argv = normalize_spot(list(argv))  # as main() does first: a bare --cloud-spot is "true"
    command: Any = build_command()
    try:
        ctx = command.make_context("cmlinfra", list(argv))
    except typer.Exit as done:  # an eager option such as --version ran and finished
        if done.exit_code:
            raise
        return " ".join(argv)
    path: list[str] = []
    while hasattr(command, "resolve_command"):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            break
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    if hasattr(command, "resolve_command"):
        raise BadCommandLine(f"cmlinfra {' '.join(path)} is a group: it needs a command")
    return " ".join(path)
