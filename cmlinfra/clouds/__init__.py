"""The cloud registry: ``--cloud NAME`` (or an alias) → the cloud's
:class:`~cmlinfra.clouds.base.CloudInfo` and :class:`~cmlinfra.clouds.base.Cloud`.

A cloud is a module exposing ``INFO`` (a ``CloudInfo``) and ``make_cloud()``: every package in
``cmlinfra/clouds/``, and every module named in ``$CMLINFRA_CLOUD_PLUGINS`` (comma-separated
dotted paths: a cloud that lives outside this package, such as the test suite's fake cloud).
Adding one never touches this file. Reading ``INFO`` imports the module only: it must import no
SDK (``--help`` lists every cloud's options); ``make_cloud()`` loads the rest when asked.

Plugins are named explicitly rather than discovered through package entry points: no code of an
installed package runs unless the user asked for it, and start-up does not pay for scanning
every installed distribution (``importlib.metadata`` costs ~40 ms per process).
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cmlinfra.clouds.info import Capabilities, CloudInfo, CloudOption
from cmlinfra.errors import CmlinfraError, UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import Cloud

PLUGINS_ENV = "CMLINFRA_CLOUD_PLUGINS"
DEFAULT_CLOUD = "lxd"  # --cloud's default: the local cloud, which costs nothing


@functools.cache
def _load(plugins: str) -> dict[str, ModuleType]:
    """Canonical name → module, builtin packages first, then ``plugins``; each INFO checked."""
    here = Path(__file__).parent
    paths = [
        f"{__name__}.{entry.name}"
        for entry in sorted(os.scandir(here), key=lambda e: e.name)
        if entry.is_dir() and (Path(entry.path) / "__init__.py").is_file()
    ]
    paths += [p.strip() for p in plugins.split(",") if p.strip()]
    modules: dict[str, ModuleType] = {}
    names: dict[str, str] = {}  # every name and alias -> canonical
    flags: dict[str, str] = {}
    for path in paths:
        module = _import(path)
        info = getattr(module, "INFO", None)
        if not isinstance(info, CloudInfo) or not callable(getattr(module, "make_cloud", None)):
            raise CmlinfraError(
                f"cloud module {path} has no INFO (a CloudInfo) and make_cloud()",
                f"fix the module, or remove it from ${PLUGINS_ENV}",
            )
        for name in (info.name, *info.aliases):
            if name in names:
                raise CmlinfraError(
                    f"cloud name {name!r} of {path} is taken by the {names[name]} cloud",
                    f"rename it, or remove {path} from ${PLUGINS_ENV}",
                )
            names[name] = info.name
        for option in info.options:
            for flag in (option.flag, *option.aliases):
                if not flag.startswith("--cloud-") or flag in flags:
                    raise CmlinfraError(
                        f"option {flag} of the {info.name} cloud is not a new --cloud-… option",
                        f"rename it in {path}",
                    )
                flags[flag] = info.name
        modules[info.name] = module
    return dict(sorted(modules.items()))


def _import(path: str) -> ModuleType:
    try:
        return importlib.import_module(path)
    except ImportError as exc:
        raise CmlinfraError(
            f"cannot load cloud {path} ({exc})", f"check ${PLUGINS_ENV} and that it is installed"
        ) from None


def _modules() -> dict[str, ModuleType]:
    return _load(os.environ.get(PLUGINS_ENV, ""))


def cloud_infos() -> list[CloudInfo]:
    """Every registered cloud, by name."""
    return [module.INFO for module in _modules().values()]


def available_clouds() -> list[str]:
    """The canonical names of the registered clouds, sorted."""
    return list(_modules())


def names_where(test: Callable[[Capabilities], bool]) -> list[str]:
    """The clouds whose capabilities pass ``test`` (for help text and error fixes)."""
    return [info.name for info in cloud_infos() if test(info.capabilities)]


def canonical(name: str) -> str:
    """``name`` or an alias of it → the cloud's name; a one-line ``UsageError`` listing the
    clouds otherwise."""
    for info in cloud_infos():
        if name == info.name or name in info.aliases:
            return info.name
    raise UsageError(
        f"unknown cloud {name!r}", f"use --cloud with one of: {', '.join(available_clouds())}"
    )


def cloud_info(name: str) -> CloudInfo:
    """What the registry knows about cloud ``name`` (or an alias), without loading it."""
    info: CloudInfo = _modules()[canonical(name)].INFO
    return info


def option_owner(flag: str) -> tuple[CloudInfo, CloudOption] | None:
    """The cloud that declares ``--cloud-…`` option ``flag``, and the option."""
    for info in cloud_infos():
        for option in info.options:
            if flag in (option.flag, *option.aliases):
                return info, option
    return None


def get_cloud(name: str) -> Cloud:
    """The cloud called ``name`` (or an alias), loaded."""
    from cmlinfra.clouds.base import Cloud

    module = _modules()[canonical(name)]
    cloud = module.make_cloud()
    if not isinstance(cloud, Cloud) or cloud.name != module.INFO.name:
        raise TypeError(f"{module.__name__}.make_cloud() is not the {module.INFO.name} Cloud")
    return cloud
