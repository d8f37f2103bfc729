"""render / plan / apply / destroy / show of one stack: what the CLI and the runner lifecycle
call.

Everything that can be checked is checked before anything is created (cloud reachable,
request valid against the catalog, terraform found, ``--state`` parsed), so bad input leaves
no directory, key or container behind. A failed apply destroys what it created before the
error is raised, so a half-built runner never keeps running (and billing) unnoticed.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.clouds import get_cloud
from cmlinfra.clouds.base import Cloud, MachineAddress, MachineRequest, ResolvedMachine
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.secrets import Secret
from cmlinfra.stack.compose import synthesize
from cmlinfra.stack.store import StackDir, list_stacks, stack_dir
from cmlinfra.ui import progress, timed


def provider_mirror() -> Path | None:
    """The filesystem mirror terraform installs providers from (scripts/localcloud.sh lays
    out terraform-lxd there): ``CMLINFRA_PROVIDER_MIRROR``, else ``$CMLINFRA_CACHE/providers``."""
    explicit = os.environ.get("CMLINFRA_PROVIDER_MIRROR")
    cache = Path(os.environ.get("CMLINFRA_CACHE") or "/var/cache/cmlinfra")
    path = Path(explicit) if explicit else cache / "providers"
    return path if path.is_dir() else None


@dataclass(frozen=True)
class Prepared:
    """A validated request: every check passed, nothing created yet."""

    cloud: Cloud
    machine: ResolvedMachine
    binary: Any  # cmlinfra.terraform.TerraformBinary
    backend: Any  # cmlinfra.terraform.Backend
    state: str | None
    stack: StackDir


@dataclass(frozen=True)
class Planned:
    machine: ResolvedMachine
    summary: Any  # cmlinfra.terraform.PlanSummary
    workdir: Path


def prepare(
    request: MachineRequest, cloud: str, *, terraform: str | None = None, state: str | None = None
) -> Prepared:
    """All the checks, in the order a user fixes them; creates nothing. A cloud's optional
    ``validate(request)`` (offline checks: sizes, regions, labels) runs before its API is
    asked anything, then ``check_reachable``, then ``resolve`` (the look-ups)."""
    from cmlinfra.terraform import LocalBackend, find_terraform, parse_state_url

    target = stack_dir(request.name)
    chosen = get_cloud(cloud)
    aws_only = [
        option
        for option, value in (
            ("--cloud-aws-subnet", request.aws_subnet),
            ("--cloud-aws-security-group", request.aws_security_group),
        )
        if value
    ]
    if aws_only and chosen.name != "aws":
        raise UsageError(
            f"{aws_only[0]} is an AWS option, not one of --cloud {cloud}",
            f"drop {aws_only[0]}, or launch with --cloud aws",
        )
    offline = getattr(chosen, "validate", None)
    if callable(offline):  # a typo is reported as a typo even when the cloud is unreachable
        offline(request)
    chosen.check_reachable()
    machine = chosen.resolve(request)
    binary = find_terraform(terraform)
    backend = (
        parse_state_url(state, name=request.name)
        if state
        else LocalBackend(target.workdir / "terraform.tfstate")
    )
    return Prepared(chosen, machine, binary, backend, state, target)


def _workspace(binary: Any, workdir: Path) -> Any:
    from cmlinfra.terraform import Workspace

    return Workspace(binary, workdir, provider_mirror=provider_mirror())


def render(prepared: Prepared, *, ssh_key_file: Path | None = None) -> Path:
    """Create the stack directory, its key pair and metadata, and synthesize the config."""
    target, machine = prepared.stack, prepared.machine
    fresh = not target.exists()
    target.create()
    try:
        public_key = target.import_key(ssh_key_file) if ssh_key_file else target.ensure_key()
        metadata = target.read_metadata() if not fresh else {}
        created = float(metadata.get("created") or time.time())
        ttl = machine.request.max_ttl_seconds
        expires = created + ttl if ttl else None
        machine = dataclasses.replace(machine, extra={**machine.extra, "expires": expires})
        with timed("synthesizing the stack"):
            spec = prepared.cloud.stack(machine, public_key)
            path = synthesize(spec, target.workdir, prepared.backend.block(prepared.binary))
        target.write_metadata(
            {
                **metadata,
                "name": target.name,
                "cloud": prepared.cloud.name,
                "machine": dataclasses.asdict(machine),
                "created": created,
                "expires": expires,
                "terraform": str(prepared.binary.path),
                "state": prepared.state,
                "backend": prepared.backend.describe(),
                "status": metadata.get("status", "rendered"),
            }
        )
    except BaseException:
        if fresh:
            target.remove()
        raise
    return path


def plan(prepared: Prepared, **render_args: Any) -> Planned:
    render(prepared, **render_args)
    workspace = _workspace(prepared.binary, prepared.stack.workdir)
    workspace.init()
    return Planned(prepared.machine, workspace.plan(), prepared.stack.workdir)


def plan_text(prepared: Prepared) -> str:
    """The plan :func:`plan` saved, as terraform prints it for people (for plan review)."""
    return _workspace(prepared.binary, prepared.stack.workdir).plan_text()


def apply(prepared: Prepared, **render_args: Any) -> MachineAddress:
    """Create (or update) the machine and return how to reach it. On failure, whatever was
    created is destroyed and the error is raised with that said."""
    target = prepared.stack
    fresh = not target.exists()
    try:
        planned = plan(prepared, **render_args)
    except BaseException:
        if fresh:  # nothing was created yet: leave nothing behind
            target.remove()
        raise
    progress(f"stack {target.name}: {planned.summary.headline()}")
    workspace = _workspace(prepared.binary, target.workdir)
    try:
        with timed(f"applying stack {target.name}"):
            workspace.apply()
        address = prepared.cloud.address(workspace.outputs())
    except (CmlinfraError, KeyboardInterrupt) as exc:
        problem = exc.problem if isinstance(exc, CmlinfraError) else "interrupted"
        try:
            _destroy(workspace, prepared.cloud)
        except CmlinfraError as cleanup:
            raise CmlinfraError(
                f"apply of stack {target.name} failed ({problem}) and destroying what was "
                f"created failed too ({cleanup.problem})",
                f"run 'cmlinfra stack destroy --name {target.name}'",
            ) from exc
        target.remove()
        raise CmlinfraError(
            f"apply of stack {target.name} failed: {problem}; what it created was destroyed",
            exc.fix if isinstance(exc, CmlinfraError) else "",
        ) from exc
    metadata = target.read_metadata()
    target.write_metadata({**metadata, "status": "applied", "address": dataclasses.asdict(address)})
    return address


def _forget(workspace: Any, addresses: list[str]) -> None:
    """``terraform state rm`` for resources that no longer exist outside terraform."""
    for address in addresses:
        progress(f"{address} is already gone; removing it from the state")
        done = subprocess.run(
            [str(workspace.binary.path), "state", "rm", "-lock-timeout=120s", address],
            cwd=workspace.workdir,
            env=workspace.environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CmlinfraError(f"terraform state rm {address} failed: {done.stderr.strip()}")


def _destroy(workspace: Any, cloud: Cloud) -> None:
    from cmlinfra.terraform import state_resources

    prepare_destroy = getattr(cloud, "prepare_destroy", None)
    if prepare_destroy is not None:
        _forget(workspace, prepare_destroy(state_resources(workspace.show_state())))
    with timed("destroying"):
        workspace.destroy()


def destroy(name: str, *, terraform: str | None = None) -> dict[str, Any]:
    """Destroy the stack's resources, then remove its directory (key pair included)."""
    from cmlinfra.terraform import find_terraform

    target = stack_dir(name)
    metadata = target.read_metadata()
    cloud = get_cloud(str(metadata["cloud"]))
    cloud.check_reachable()
    binary = find_terraform(terraform or metadata.get("terraform"))
    workspace = _workspace(binary, target.workdir)
    workspace.init()
    _destroy(workspace, cloud)
    target.remove()
    return {"name": name, "cloud": metadata["cloud"], "destroyed": True}


def show(name: str | None = None) -> dict[str, Any]:
    """One stack's metadata (without secrets), or the names of every stack."""
    if name is None:
        return {"stacks": list_stacks()}
    target = stack_dir(name)
    metadata = target.read_metadata()
    metadata["stack_dir"] = str(target.root)
    metadata["ssh_key"] = str(target.key_path)
    return metadata


def private_key(name: str) -> Secret:
    """The stack's SSH private key, for the bootstrap's SSH client."""
    return stack_dir(name).private_key()
