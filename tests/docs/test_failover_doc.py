"""docs/failover.md says what the code does: its per-cloud error table is generated from the
clouds' own rules (scripts/gen-failover-doc.py), and the numbers it quotes are the code's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from cmlinfra.clouds import available_clouds
from cmlinfra.stack import candidates, failover
from tests.fixtures.cli import cli_env

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "failover.md").read_text()


def test_the_error_table_is_current() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/gen-failover-doc.py", "--check"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_cloud_with_rules_has_its_table() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts/gen-failover-doc.py")
    assert spec and spec.loader
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for name in available_clouds():
        assert f"### {name}\n" in DOC, name
    assert generator.table() in DOC


def test_the_numbers_it_quotes() -> None:
    assert f"{failover.TRIES} tries in all" in DOC
    assert f"{failover.BACKOFF_S:g} s then {failover.BACKOFF_S * 2:g} s apart" in DOC
    assert f"At most {candidates.MAX_CANDIDATES} candidates" in DOC
    assert f"{failover.LOOKUPS}" == "4" and "four at a time" in DOC
