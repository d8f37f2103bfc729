"""``cmlinfra doctor``: is this machine ready to launch runners?

Checks are plain functions returning :class:`Check` rows. Each area keeps its own checks next
to its code in ``cmlinfra/<area>/checks.py`` (a ``CHECKS`` list) and they are discovered here, so
adding an LXD or SSH check touches no other area. Node.js is checked here because stack
composition (cdktn, through jsii) runs on it and no single area owns it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cmlinfra


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # a failed required check makes doctor exit non-zero

    @property
    def status(self) -> str:
        return "ok" if self.ok else ("MISSING" if self.required else "warning")


Options = Mapping[str, Any]  # doctor's command-line options (e.g. "terraform": explicit path)
CheckFn = Callable[[Options], list[Check]]

NODE_MIN = (18, 0, 0)  # oldest Node.js line jsii still runs on with cdktn 0.24


def check_node(options: Options) -> list[Check]:
    fix = (
        f"install Node.js >= {NODE_MIN[0]} (cdktn composes stacks through it), "
        "e.g. apt install nodejs"
    )
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        return [Check("node", False, "Node.js is not on PATH (cdktn needs it)", fix)]
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Check("node", False, f"{node} --version failed: {exc}", fix)]
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", out.stdout.strip())
    if not match:
        return [Check("node", False, f"{node} printed {out.stdout.strip()[:40]!r}", fix)]
    version = tuple(int(part) for part in match.groups())
    text = ".".join(match.groups())
    if version < NODE_MIN:
        return [Check("node", False, f"Node.js {text} at {node} is too old", fix)]
    return [Check("node", True, f"Node.js {text} at {node}")]


CORE_CHECKS: list[CheckFn] = [check_node]


def registered_checks() -> list[CheckFn]:
    """Core checks, then every ``cmlinfra.<area>.checks.CHECKS`` in name order."""
    found = list(CORE_CHECKS)
    for area in sorted(m.name for m in pkgutil.iter_modules(cmlinfra.__path__) if m.ispkg):
        try:
            module = importlib.import_module(f"cmlinfra.{area}.checks")
        except ModuleNotFoundError as exc:
            if exc.name != f"cmlinfra.{area}.checks":
                raise
            continue
        found.extend(getattr(module, "CHECKS", ()))
    return found


def run_checks(options: Options, checks: list[CheckFn] | None = None) -> list[Check]:
    """Every check's rows; a check that crashes becomes a failed row, not a traceback."""
    rows: list[Check] = []
    for check in registered_checks() if checks is None else checks:
        try:
            rows.extend(check(options))
        except Exception as exc:  # one broken check must not hide the others
            name = getattr(check, "__name__", "check").removeprefix("check_")
            rows.append(Check(name, False, f"the check failed: {type(exc).__name__}: {exc}"))
    return rows
