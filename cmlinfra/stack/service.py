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
from dataclasses import dataclass, field
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
    # what render() wrote for this request, by key file: the launcher renders first (to save
    # the configuration before anything exists) and then applies; synthesizing once is enough
    rendered: dict[str, Path] = field(default_factory=dict, compare=False, repr=False)


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


def renamed(prepared: Prepared, name: str) -> Prepared:
    """The same validated request under another name (``runner launch --count``): the cloud's
    look-ups are not repeated, the name is checked, and its stack directory and state are its
    own. Creates nothing."""
    from cmlinfra.clouds.validate import stack_name
    from cmlinfra.terraform import LocalBackend, parse_state_url

    stack_name(name)
    request = dataclasses.replace(prepared.machine.request, name=name)
    target = stack_dir(name)
    backend = (
        parse_state_url(prepared.state, name=name)
        if prepared.state
        else LocalBackend(target.workdir / "terraform.tfstate")
    )
    machine = dataclasses.replace(prepared.machine, request=request)
    return Prepared(prepared.cloud, machine, prepared.binary, backend, prepared.state, target)


def _workspace(binary: Any, workdir: Path) -> Any:
    from cmlinfra.terraform import Workspace

    return Workspace(binary, workdir, provider_mirror=provider_mirror())


def render(prepared: Prepared, *, ssh_key_file: Path | None = None) -> Path:
    """Create the stack directory, its key pair and metadata, and synthesize the config (once
    per prepared request: a second call returns the file the first one wrote)."""
    target, machine = prepared.stack, prepared.machine
    done = prepared.rendered.get(str(ssh_key_file or ""))
    if done is not None and done.is_file() and target.exists():
        return done
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
    prepared.rendered[str(ssh_key_file or "")] = path
    return path


def plan(prepared: Prepared, **render_args: Any) -> Planned:
    """Render, init and plan. A stack this call created is removed again when any step fails
    (a provider that cannot be installed, a plan error, Ctrl-C): nothing exists yet."""
    target = prepared.stack
    fresh = not target.exists()
    try:
        render(prepared, **render_args)
        workspace = _workspace(prepared.binary, target.workdir)
        workspace.init()
        return Planned(prepared.machine, workspace.plan(), target.workdir)
    except BaseException:
        if fresh:
            target.remove()
        raise


def plan_text(prepared: Prepared) -> str:
    """The plan :func:`plan` saved, as terraform prints it for people (for plan review)."""
    return _workspace(prepared.binary, prepared.stack.workdir).plan_text()


def apply(prepared: Prepared, **render_args: Any) -> MachineAddress:
    """Create (or update) the machine and return how to reach it. On failure, whatever was
    created is destroyed and the error is raised with that said.

    A stack that holds nothing yet (local state, never applied) is planned and applied by one
    terraform run (:meth:`~cmlinfra.terraform.Workspace.apply_new`); any other goes through a
    saved plan that is summarized before it is applied. Either way a request terraform refuses
    leaves nothing behind."""
    target = prepared.stack
    if _is_new(prepared):
        workspace, outputs = _create(prepared, **render_args)
    else:
        planned = plan(prepared, **render_args)  # a fresh stack that fails to plan leaves nothing
        progress(f"stack {target.name}: {planned.summary.headline()}")
        workspace, outputs = _workspace(prepared.binary, target.workdir), None
    try:
        if outputs is None:
            with timed(f"applying stack {target.name}"):
                workspace.apply()
            outputs = workspace.outputs()
        address = prepared.cloud.address(outputs)
    except (CmlinfraError, KeyboardInterrupt) as exc:
        raise _undo(prepared, workspace, exc) from exc
    metadata = target.read_metadata()
    target.write_metadata({**metadata, "status": "applied", "address": dataclasses.asdict(address)})
    return address


def _is_new(prepared: Prepared) -> bool:
    """Whether the stack certainly holds nothing: not created yet, or rendered and never
    applied, with its state in a local file that has no resource. State elsewhere (S3) is not
    read before ``init``, so it takes the saved-plan path (a real cloud's boot dwarfs it)."""
    target = prepared.stack
    if not target.exists():
        return True
    metadata = target.read_metadata()
    return metadata.get("status") == "rendered" and never_applied(target, metadata)


def _create(prepared: Prepared, **render_args: Any) -> tuple[Any, dict[str, Any]]:
    """Render, init, and plan + apply in one terraform run; the workspace and the outputs."""
    target = prepared.stack
    fresh = not target.exists()
    try:
        render(prepared, **render_args)
        workspace = _workspace(prepared.binary, target.workdir)
        workspace.init()
    except BaseException:
        if fresh:
            target.remove()
        raise
    try:
        with timed(f"applying stack {target.name}"):  # terraform prints its plan first
            applied = workspace.apply_new()
        return workspace, applied.outputs if applied.outputs is not None else workspace.outputs()
    except (CmlinfraError, KeyboardInterrupt) as exc:
        if never_applied(target, target.read_metadata()):
            # refused while planning (bad input), or stopped before creating anything
            if fresh:
                target.remove()
            raise
        raise _undo(prepared, workspace, exc) from exc


def _undo(prepared: Prepared, workspace: Any, exc: BaseException) -> CmlinfraError:
    """Destroy what a failed apply created; the error that says so."""
    target = prepared.stack
    problem = exc.problem if isinstance(exc, CmlinfraError) else "interrupted"
    try:
        _destroy(workspace, prepared.cloud)
    except CmlinfraError as cleanup:
        return CmlinfraError(
            f"apply of stack {target.name} failed ({problem}) and destroying what was "
            f"created failed too ({cleanup.problem})",
            f"run 'cmlinfra stack destroy --name {target.name}'",
        )
    target.remove()
    return CmlinfraError(
        f"apply of stack {target.name} failed: {problem}; what it created was destroyed",
        exc.fix if isinstance(exc, CmlinfraError) else "",
    )


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
    workspace = _workspace(binary, target.workdir)
    workspace.init()
    _destroy(workspace, cloud)
    target.remove()
    return {"name": name, "cloud": metadata["cloud"], "destroyed": True, "applied": True}


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
