"""docs/cml-compat.yaml, the catalogue of CML 0.20's commands and options, says the truth: each
option marked supported, differs or accepted parses with the real `cml` command line (CML's
spelling, translated as `cml` translates it); each refused one is refused in one line; and
docs/migrating-from-cml.md is what scripts/gen-migration-doc.py makes of it today."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from cmlinfra.cli import cml
from cmlinfra.cli.compat import RUNNER_LAUNCH
from cmlinfra.errors import CmlinfraError
from tests.examples.cli_lines import parse

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = yaml.safe_load((ROOT / "docs" / "cml-compat.yaml").read_text())
COMMANDS = {c["cml"]: c for c in CATALOGUE["commands"]}
REFUSED_AT_LAUNCH = {c.option for c in RUNNER_LAUNCH if c.fix is not None}


def _options() -> list[tuple[str, dict[str, Any]]]:
    return [(c["cml"], o) for c in CATALOGUE["commands"] for o in c["options"]]


@pytest.mark.parametrize(
    ("command", "option"), _options(), ids=[f"{c}:{o['option']}" for c, o in _options()]
)
def test_each_cml_option_is_handled_as_the_catalogue_says(command: str, option: dict) -> None:
    entry = COMMANDS[command]
    argv = [*command.split(), *entry["args"], option["option"]]
    if "value" in option:
        argv.append(str(option["value"]))
    if option["status"] == "refused":  # refused in one line by the launch, before anything
        assert command == "runner launch" and option["option"] in REFUSED_AT_LAUNCH
        return
    assert parse(cml.translate(argv).argv)


def test_global_options_parse_before_and_after_the_command() -> None:
    for option in CATALOGUE["globals"]:
        pair = [option["option"], str(option["value"])]
        assert parse(cml.translate([*pair, "comment", "create", "r.md"]).argv) == "comment create"
        assert parse(cml.translate(["comment", "create", "r.md", *pair]).argv) == "comment create"


def test_refused_commands_are_refused_and_every_cml_command_is_listed() -> None:
    with pytest.raises(CmlinfraError):
        cml.translate(["tensorboard", "connect"])
    listed = set(COMMANDS)
    assert listed == {
        "runner launch", "comment create", "comment update", "check create", "asset publish",
        "pr create", "ci", "workflow rerun", "tensorboard connect",
    }  # fmt: skip
    every_refusal = {o["option"] for o in COMMANDS["runner launch"]["options"]}
    assert {c.option for c in RUNNER_LAUNCH} <= every_refusal


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen-migration-doc.py"
    spec = importlib.util.spec_from_file_location("gen_migration_doc", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_doc_is_current() -> None:
    expected = _generator().render()
    actual = (ROOT / "docs" / "migrating-from-cml.md").read_text()
    assert actual == expected, "run: python scripts/gen-migration-doc.py"


def test_the_generator_checks_from_the_command_line() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen-migration-doc.py"),
                           "--check"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
