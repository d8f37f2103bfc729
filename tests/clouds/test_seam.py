"""The seam stays a seam: everything a cloud does lives in ``cmlinfra/clouds/<name>/``.

Outside ``cmlinfra/clouds/`` no Python source names a cloud (compares against or hard-codes
``"aws"``, ``"lxd"``, ``"ssh"``…) or imports a cloud's package; inside it, nothing imports the
stages that use clouds (imports point one way: runner → clouds). A cloud's registry entry
imports no SDK. Checked on the source, so a regression fails here before any review.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures.cli import cli_env

PACKAGE = Path(__file__).resolve().parents[2] / "cmlinfra"
CLOUDS = PACKAGE / "clouds"
# the brief's grep, and the names the next clouds will have
NAMED = re.compile(r"[\"'](aws|lxd|ssh|gcp|google|azure|az|kubernetes|k8s)[\"']")
USERS = ("runner", "stack", "cli", "bootstrap", "forges", "report", "terraform")
HEAVY = (
    "boto3", "botocore", "paramiko", "cdktn", "jsii", "jinja2", "requests", "google", "azure",
    "kubernetes",
)  # fmt: skip


def _sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return found


def test_no_cloud_is_named_outside_its_package() -> None:
    outside = [p for p in _sources(PACKAGE) if CLOUDS not in p.parents]
    hits = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in outside
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if NAMED.search(line)
    ]
    assert hits == []


def test_no_cloud_package_is_imported_outside_clouds() -> None:
    clouds = [p.name for p in CLOUDS.iterdir() if (p / "__init__.py").is_file()]
    pattern = re.compile(rf"^cmlinfra\.clouds\.({'|'.join(clouds)})(\.|$)")
    hits = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in _sources(PACKAGE)
        if CLOUDS not in path.parents
        for name in _imports(path)
        if pattern.match(name)
    ]
    assert hits == []


def test_clouds_import_none_of_the_stages_that_use_them() -> None:
    """runner → clouds, never clouds → runner (nor cli, forges, bootstrap, report; the doctor
    rows may ask the stack for the provider mirror's path, and a cloud that reaches its
    machines its own way — a pod through the API's exec — implements the Transport protocol
    of ``bootstrap/transport.py``, the seam's own module, with its result and error types)."""
    allowed = {"cmlinfra.stack.service", "cmlinfra.stack.service.provider_mirror"}
    allowed |= {
        f"cmlinfra.bootstrap.transport{name}"
        for name in ("", ".CommandResult", ".ConnectionLost", ".LineSink", ".StepTimeout")
    }
    hits = [
        f"{path.relative_to(PACKAGE.parent)}: {name}"
        for path in _sources(CLOUDS)
        for name in _imports(path)
        if name.split(".")[:2] in [["cmlinfra", user] for user in USERS] and name not in allowed
    ]
    assert hits == []


def test_registry_entries_import_no_sdk() -> None:
    """``--help`` lists every cloud's options: reading the registry must stay cheap."""
    code = (
        "import sys; from cmlinfra.clouds import cloud_infos; cloud_infos()\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_modules_stay_small() -> None:
    """A module over ~300 lines is doing more than one thing (DEVELOPERS.md)."""
    long = [
        f"{p.relative_to(PACKAGE.parent)}: {n}"
        for p in _sources(CLOUDS)
        if (n := len(p.read_text().splitlines())) > 300
    ]
    assert long == []
