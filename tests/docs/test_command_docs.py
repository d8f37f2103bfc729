"""docs/commands.md is generated from the CLI and must be current; every command has an
example, and every example parses against the real CLI as the command it documents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.examples.cli_lines import command_lines, parse
from tests.fixtures.cli import cli_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = yaml.safe_load((ROOT / "docs" / "command-examples.yaml").read_text())


def _leaf_commands() -> list[str]:
    from cmlinfra.cli.app import build_command

    def walk(command, ctx, path):  # type: ignore[no-untyped-def]
        if not hasattr(command, "list_commands"):
            return [" ".join(path)]
        found = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
            found += walk(sub, sub_ctx, [*path, name])
        return found

    root = build_command()
    return walk(root, root.make_context("cmlinfra", [], resilient_parsing=True), [])


def test_commands_md_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen-command-docs.py", "--check"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", _leaf_commands())
def test_every_command_has_an_example(command: str) -> None:
    assert EXAMPLES.get(command), (
        f"add an example for `cmlinfra {command}` to docs/command-examples.yaml"
    )


EXAMPLE_LINES = [
    pytest.param(key, argv, id=" ".join(argv)[:60])
    for key, examples in EXAMPLES.items()
    for example in examples
    for argv in command_lines(example)
]


@pytest.mark.parametrize("key,argv", EXAMPLE_LINES)
def test_example_parses_as_its_command(key: str, argv: list[str]) -> None:
    assert parse(argv) in {key, " ".join(argv)}  # the latter: an eager option like --version


def test_every_example_key_is_a_command() -> None:
    known = set(_leaf_commands()) | {""}
    for key in EXAMPLES:
        assert key in known or any(c.startswith(key + " ") for c in known), key
