"""What every replayed attack asserts: it fails safely.

One line on stderr (``cmlinfra: error: …``), a non-zero exit, and — checked by each test with
the real component — nothing created, nothing sent, nothing evaluated.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

_REFERENCE = re.compile(r"module\.[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*")


def assert_refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The CLI refused in one line, naming ``fragments``; returns the line."""
    assert result.returncode not in (0, 70), (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cmlinfra: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _templates(text: str) -> Iterator[str]:
    """The template sequences (``${``/``%{``) Terraform would evaluate in ``text``: an
    escape (``$${``/``%%{``) is skipped, as Terraform's template scanner does."""
    i = 0
    while i < len(text):
        if text[i] in "$%" and text.startswith(text[i] * 2 + "{", i):
            i += 3
        elif text[i] in "$%" and text.startswith(text[i] + "{", i):
            yield text[i:]
            i += 2
        else:
            i += 1


def expressions(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string (map keys too) in ``value`` that Terraform would evaluate
    as an expression, except a whole module reference (``${module.x.y}``, a ``Ref``)."""
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}") and _REFERENCE.fullmatch(value[2:-1]):
            return
        for found in _templates(value):
            yield path, found
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "//":  # cdktn's metadata: not configuration
                continue
            for found in _templates(str(key)):
                yield f"{path}.{{key}}", found
            yield from expressions(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from expressions(item, f"{path}[{index}]")


def configuration_expressions(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every expression in a synthesized stack's module variables and provider blocks."""
    return [
        *expressions(document.get("module", {}), "module"),
        *expressions(document.get("provider", {}), "provider"),
    ]
