"""LXD projects as the local cloud's regions.

``--cloud-region`` on lxd names an LXD project: ``local`` (the default, and what a CML user
never writes) is LXD's ``default`` project; any other name is a project of the daemon. A
project carries its own limits (``limits.instances``, ``limits.cpu``, ``limits.memory``…), and
LXD refuses a container beyond them with a real quota error — so several projects stand in
for a public cloud's zones when a launch fails over (docs/failover.md).

terraform-lxd 1.5.0 has no ``project`` argument on ``lxd_container``, but its ``remote``
argument names a remote of the LXD client configuration in the provider's ``config_dir``, and
an LXD client remote carries a project (``project:`` in ``config.yml``). So a stack outside the
default project gets a provider ``config_dir`` holding one remote per project, named after the
project, on the same unix socket; the default project keeps the provider block it always had.
The file holds no secret (a unix socket needs none) and is rewritten, identically, whenever a
stack needs it, so it never has to travel with a stack saved to the registry.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from cmlinfra.clouds.shared import CML_REGIONS
from cmlinfra.errors import UsageError

LOCAL = "local"  # the region that is LXD's default project
DEFAULT_PROJECT = "default"
# LXD refuses '/', whitespace and a few more in project names; this is the portable subset
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
FIX = "use --cloud-region local (LXD's default project) or the name of an LXD project"


def region(name: str | None) -> str:
    """``--cloud-region`` on lxd → the region (``local`` or a project name); offline."""
    value = (name or "").strip()
    if value in ("", LOCAL, DEFAULT_PROJECT):
        return LOCAL
    if value in CML_REGIONS or not NAME.match(value):  # CML's public regions mean nothing here
        raise UsageError(f"unknown region {value!r} for the lxd cloud", FIX)
    return value


def project(region_name: str) -> str:
    """The LXD project of a region."""
    return DEFAULT_PROJECT if region_name in ("", LOCAL) else region_name


def region_of(project_name: str) -> str:
    return LOCAL if project_name in ("", DEFAULT_PROJECT) else project_name


def _home() -> Path:
    """Where cmlinfra keeps its state (the stacks' home: ``$CMLINFRA_HOME``, else XDG's)."""
    if os.environ.get("CMLINFRA_HOME"):
        return Path(os.environ["CMLINFRA_HOME"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "cmlinfra"


def client_config(project_name: str, socket: Path) -> Path:
    """The provider's ``config_dir`` for a stack in ``project_name``: a ``config.yml`` whose
    remote ``project_name`` is this daemon's socket in that project. Written atomically (two
    launches may write it at once; both write the same bytes)."""
    where = _home() / "lxd" / "projects" / project_name
    where.mkdir(parents=True, exist_ok=True)
    text = (
        "# written by cmlinfra for terraform-lxd (clouds/lxd/projects.py); rewritten as needed\n"
        f"default-remote: {LOCAL}\n"
        "remotes:\n"
        f"  {LOCAL}:\n    addr: unix://{socket}\n    public: false\n"
        f'  "{project_name}":\n    addr: unix://{socket}\n'
        f'    project: "{project_name}"\n    public: false\n'
    )
    target = where / "config.yml"
    if not target.is_file() or target.read_text() != text:
        handle, temporary = tempfile.mkstemp(dir=where, prefix=".config-", suffix=".yml")
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, target)
    return where
