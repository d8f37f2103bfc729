"""Where the Terraform modules are: ``terraform/modules`` in a checkout, ``cmlinfra/_modules``
in an installed wheel (pyproject's force-include copies them there)."""

from __future__ import annotations

import os
from pathlib import Path

from cmlinfra.errors import CmlinfraError

_PACKAGE = Path(__file__).resolve().parents[1]


def modules_root() -> Path:
    """The directory holding ``<cloud>/<module>`` Terraform modules
    (``CMLINFRA_MODULES`` overrides, for trying out a modified module)."""
    override = os.environ.get("CMLINFRA_MODULES")
    candidates = [Path(override)] if override else []
    candidates += [_PACKAGE / "_modules", _PACKAGE.parent / "terraform" / "modules"]
    for root in candidates:
        if root.is_dir():
            return root
    raise CmlinfraError(
        "cmlinfra's Terraform modules are missing",
        "reinstall cmlinfra, or set CMLINFRA_MODULES to a terraform/modules directory",
    )


def module_path(cloud: str, name: str) -> Path:
    """Absolute path of module ``cloud/name`` (e.g. ``lxd/runner``)."""
    path = modules_root() / cloud / name
    if not (path / "main.tf").is_file():
        raise CmlinfraError(f"Terraform module {cloud}/{name} not found in {path.parent}")
    return path
