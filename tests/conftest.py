"""Shared fixtures. Every module in ``tests/fixtures/`` is loaded as a pytest plugin, so a new
real component (sshd, moto, LXD, the forge server) is one new file there."""

from __future__ import annotations

import pkgutil
from pathlib import Path

pytest_plugins = sorted(
    f"tests.fixtures.{m.name}"
    for m in pkgutil.iter_modules([str(Path(__file__).parent / "fixtures")])
)
