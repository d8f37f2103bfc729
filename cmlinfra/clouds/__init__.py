"""The cloud registry: ``--cloud NAME`` → the :class:`~cmlinfra.clouds.base.Cloud` in
``cmlinfra.clouds.NAME``.

A cloud is discovered by its package alone (a subpackage exposing ``CLOUD`` or
``make_cloud()``), so adding one never touches this file, and importing the registry never
imports a cloud's dependencies (boto3 for AWS) until that cloud is asked for.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from cmlinfra.clouds.base import Cloud
from cmlinfra.errors import UsageError

_NOT_CLOUDS = {"base", "modules"}


def available_clouds() -> list[str]:
    """Names of the clouds installed with this package, sorted."""
    here = [str(Path(__file__).parent)]
    return sorted(
        m.name for m in pkgutil.iter_modules(here) if m.ispkg and m.name not in _NOT_CLOUDS
    )


def get_cloud(name: str) -> Cloud:
    """The cloud called ``name``; a one-line ``UsageError`` naming the valid ones otherwise."""
    names = available_clouds()
    if name not in names:
        raise UsageError(f"unknown cloud {name!r}", f"use --cloud with one of: {', '.join(names)}")
    module = importlib.import_module(f"{__name__}.{name}")
    factory = getattr(module, "make_cloud", None)
    cloud = factory() if callable(factory) else getattr(module, "CLOUD", None)
    if cloud is None:
        raise TypeError(f"cmlinfra.clouds.{name} exposes neither CLOUD nor make_cloud()")
    return cloud
