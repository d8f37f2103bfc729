"""Removing a stack: destroying what its state holds (forgetting what is already gone), and
its directory with its key pair. ``cmlinfra.stack.service`` re-exports :func:`destroy` and
:func:`never_applied`; a failed apply calls :func:`destroy_resources`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from cmlinfra.clouds import get_cloud
from cmlinfra.clouds.base import Cloud
from cmlinfra.errors import CmlinfraError
from cmlinfra.stack.store import StackDir, stack_dir
from cmlinfra.ui import progress, timed


def _workspace(binary: Any, workdir: Path, cloud: Cloud) -> Any:
    from cmlinfra.stack.service import _workspace as workspace

    return workspace(binary, workdir, cloud)


def forget_vanished(workspace: Any, addresses: list[str]) -> None:
    """``terraform state rm`` (one run) for resources that no longer exist outside terraform,
    or that go with the machine (a file pushed into it)."""
    if not addresses:
        return
    for address in addresses:
        progress(f"{address} is already gone, or goes with its machine; removing it from the state")
    done = subprocess.run(
        [str(workspace.binary.path), "state", "rm", "-lock-timeout=120s", *addresses],
        cwd=workspace.workdir,
        env=workspace.environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise CmlinfraError(
            f"terraform state rm {' '.join(addresses)} failed: {done.stderr.strip()}"
        )


def destroy_resources(workspace: Any, cloud: Cloud) -> None:
    from cmlinfra.terraform import state_resources

    prepare_destroy = getattr(cloud, "prepare_destroy", None)
    if prepare_destroy is not None:
        forget_vanished(workspace, prepare_destroy(state_resources(workspace.show_state())))
    with timed("destroying"):
        workspace.destroy()


def never_applied(target: StackDir, metadata: dict[str, Any]) -> bool:
    """True when the stack's state is a local file that holds no resource (``render`` only, a
    failed ``terraform init``, a stack restored from the runner registry on another machine):
    terraform would destroy nothing, and may not even install its provider. S3 state cannot
    be read without ``terraform init``, so a stack kept there is never assumed empty."""
    import json

    from cmlinfra.terraform import LocalBackend, parse_state_url

    state = metadata.get("state")
    backend = parse_state_url(state, name=target.name) if state else None
    if backend is not None and not isinstance(backend, LocalBackend):
        return False
    path = Path(backend.path) if backend is not None else target.workdir / "terraform.tfstate"
    if not path.is_file():
        return True
    try:
        return not json.loads(path.read_text() or "{}").get("resources")
    except ValueError:
        return False  # a damaged state file: let terraform say what is wrong with it


def destroy(name: str, *, terraform: str | None = None) -> dict[str, Any]:
    """Destroy the stack's resources, then remove its directory (key pair included). A stack
    that was never applied has nothing to destroy: its directory is removed without running
    terraform, so neither the cloud nor its provider has to be reachable."""
    from cmlinfra.terraform import find_terraform

    target = stack_dir(name)
    metadata = target.read_metadata()
    if never_applied(target, metadata):
        target.remove()
        return {"name": name, "cloud": metadata["cloud"], "destroyed": True, "applied": False}
    cloud = get_cloud(str(metadata["cloud"]))
    cloud.check_reachable()
    binary = find_terraform(terraform or metadata.get("terraform"))
    workspace = _workspace(binary, target.workdir, cloud)
    workspace.init()
    destroy_resources(workspace, cloud)
    target.remove()
    return {"name": name, "cloud": metadata["cloud"], "destroyed": True, "applied": True}
