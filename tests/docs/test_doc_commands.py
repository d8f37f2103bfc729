"""Every concrete ``cmlinfra …`` command in the lifecycle docs parses with the real CLI: an
option that moved (``--json`` is global, before the command) or was never there fails here,
not in a user's CI. Synopsis lines (``[--opt]``, ``a|b``, ``…``) are templates and skipped."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.examples.cli_lines import parse

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["docs/lifecycle.md"]
INLINE = re.compile(r"`(cmlinfra [^`]+)`")
TEMPLATE = re.compile(r"[\[\]|…<>]")


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        fenced = [
            line.strip()
            for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
            for line in block.replace("\\\n", " ").splitlines()
            if line.strip().startswith("cmlinfra ")
        ]
        for line in [*INLINE.findall(text), *fenced]:
            command = line.split("#", 1)[0].strip()
            if not TEMPLATE.search(command):
                found.append((doc, command))
    return found


EXAMPLES = _examples()


def test_the_docs_have_concrete_examples() -> None:
    assert any(" gc " in f" {command} " for _, command in EXAMPLES), EXAMPLES


@pytest.mark.parametrize(("doc", "command"), EXAMPLES, ids=[c for _, c in EXAMPLES])
def test_doc_command_parses(doc: str, command: str) -> None:
    assert parse(shlex.split(command)[1:]), f"{doc}: {command}"
