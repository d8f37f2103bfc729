"""docs/commands.md is generated from the CLI and must be current; every command has an
example, and every example parses against the real CLI (as the command it documents, when it
comes from docs/command-examples.yaml)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.examples.cli_lines import command_lines, parse
from tests.fixtures.cli import cli_env

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES: dict[str, list[str]] = yaml.safe_load(
    (ROOT / "docs" / "command-examples.yaml").read_text()
)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts/gen-command-docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _commands() -> dict[str, Any]:
    """Command path → click command, for every leaf command of the real CLI."""
    from cmlinfra.cli.app import build_command

    root = build_command()
    ctx = root.make_context("cmlinfra", [], resilient_parsing=True)
    return {
        " ".join(path): command
        for path, command, _ in GEN.walk(root, ctx, [])
        if path and not hasattr(command, "list_commands")
    }


COMMANDS = _commands()


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


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_an_example(name: str) -> None:
    assert EXAMPLES.get(name) or command_lines(GEN.epilog_examples(COMMANDS[name])), (
        f"add an example for `cmlinfra {name}` to its Examples: epilog "
        "or to docs/command-examples.yaml, then run scripts/gen-command-docs.py"
    )


YAML_EXAMPLES = [
    pytest.param(key, argv, id=" ".join(argv)[:60])
    for key, examples in EXAMPLES.items()
    for example in examples
    for argv in command_lines(example)
]
EPILOG_EXAMPLES = [
    pytest.param(argv, id=f"{name}: {' '.join(argv)[:50]}")
    for name, command in COMMANDS.items()
    for argv in command_lines(GEN.epilog_examples(command))
]


@pytest.mark.parametrize("key,argv", YAML_EXAMPLES)
def test_listed_example_parses_as_its_command(key: str, argv: list[str]) -> None:
    path = parse(argv)
    assert key == "" or path in {key, " ".join(argv)}  # the latter: an eager option (--version)


@pytest.mark.parametrize("argv", EPILOG_EXAMPLES)
def test_help_epilog_example_parses(argv: list[str]) -> None:
    assert parse(argv)


def test_every_listed_key_is_a_command() -> None:
    for key in EXAMPLES:
        assert key == "" or key in COMMANDS, f"docs/command-examples.yaml: no command {key!r}"
