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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmlinfra.clouds import get_cloud, validate
from cmlinfra.clouds.base import Cloud, MachineAddress, MachineRequest, ResolvedMachine
from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret
from cmlinfra.stack.compose import synthesize
from cmlinfra.stack.removal import destroy as destroy  # re-exported: what callers use
from cmlinfra.stack.removal import destroy_resources, never_applied
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
    """All the checks, in the order a user fixes them; creates nothing. Options of another
    cloud are refused first, then the cloud's offline ``validate(request)`` (sizes, regions,
    labels, its own options) runs before its API is asked anything, then ``check_reachable``,
    then ``resolve`` (the look-ups)."""
    from cmlinfra.terraform import LocalBackend, find_terraform, parse_state_url

    target = stack_dir(request.name)
    chosen = get_cloud(cloud)
    validate.cloud_options(request, chosen.info)
    chosen.validate(request)  # a typo is reported as a typo even when the cloud is unreachable
    chosen.check_reachable()
    machine = chosen.resolve(request)
    binary = find_terraform(terraform)
    backend = (
        parse_state_url(state, name=request.name)
        if state
        else LocalBackend(target.workdir / "terraform.tfstate")
    )
    return Prepared(chosen, machine, binary, backend, state, target)


def _workspace(binary: Any, workdir: Path, cloud: Cloud | None = None) -> Any:
    """The stack's terraform workspace; a cloud that configures its provider through the
    environment (``terraform_environment()``, optional: the Kubernetes provider's kubeconfig
    path) adds its variables — never a secret's value, only where to read it."""
    from cmlinfra.terraform import Workspace

    extra = getattr(cloud, "terraform_environment", None)
    env = extra() if extra is not None else {}
    return Workspace(binary, workdir, provider_mirror=provider_mirror(), env=env)


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
    fresh = not prepared.stack.exists()
    return _plan(prepared, _initialized(prepared, fresh, **render_args), fresh)


def _plan(prepared: Prepared, workspace: Any, fresh: bool) -> Planned:
    try:
        return Planned(prepared.machine, workspace.plan(), prepared.stack.workdir)
    except BaseException:
        if fresh:
            prepared.stack.remove()
        raise


def _initialized(prepared: Prepared, fresh: bool, **render_args: Any) -> Any:
    """Render and init; the workspace. A ``fresh`` stack is removed again on failure."""
    try:
        render(prepared, **render_args)
        workspace = _workspace(prepared.binary, prepared.stack.workdir, prepared.cloud)
        workspace.init()
        return workspace
    except BaseException:
        if fresh:
            prepared.stack.remove()
        raise


def plan_text(prepared: Prepared) -> str:
    """The plan :func:`plan` saved, as terraform prints it for people (for plan review)."""
    return _workspace(prepared.binary, prepared.stack.workdir, prepared.cloud).plan_text()


def apply(
    prepared: Prepared,
    *,
    locked: bool = False,
    rendered_here: bool = False,
    on_created: Callable[[], None] | None = None,
    **render_args: Any,
) -> MachineAddress:
    """Create (or update) the machine and return how to reach it. On failure, whatever was
    created is destroyed and the error is raised with that said.

    A stack that holds nothing yet is planned and applied by one terraform run
    (:meth:`~cmlinfra.terraform.Workspace.apply_new`); any other goes through a saved plan
    that is summarized before it is applied. Either way a request terraform refuses leaves
    nothing behind. ``locked``: the caller holds the name's lock in the runner registry, so
    no other cmlinfra run writes this stack's state meanwhile, and a remote state (S3) found
    empty counts as holding nothing too. ``rendered_here``: the caller rendered the stack for
    this apply (a launch), so a refusal that created nothing removes it, as for a fresh one —
    the failover then sees nothing left of the candidate. ``on_created``: called once terraform
    has created the machine, before the wait for its address and host keys (on a cloud, the
    boot): a launch asks the forge for the runner's registration meanwhile."""
    target = prepared.stack
    fresh = rendered_here or not target.exists()
    workspace = _initialized(prepared, fresh, **render_args)
    if _holds_nothing(prepared, workspace, locked):
        outputs = _create(prepared, workspace, fresh)
    else:
        planned = _plan(prepared, workspace, fresh)  # a fresh stack that fails leaves nothing
        progress(f"stack {target.name}: {planned.summary.headline()}")
        outputs = None
    try:
        if outputs is None:
            with timed(f"applying stack {target.name}"):
                workspace.apply()
            outputs = workspace.outputs()
        if on_created is not None:
            on_created()
        address = prepared.cloud.address(outputs)
    except (CmlinfraError, KeyboardInterrupt) as exc:
        raise _undo(prepared, workspace, exc) from exc
    metadata = target.read_metadata()
    target.write_metadata({**metadata, "status": "applied", "address": dataclasses.asdict(address)})
    return address


def _holds_nothing(prepared: Prepared, workspace: Any, locked: bool) -> bool:
    """Whether the stack certainly holds nothing: rendered and never applied, with its state
    in a local file without a resource, or (``locked``) a remote state that ``state pull``
    finds empty. Unlocked, a remote state may be written by another run between that look and
    the apply: it takes the saved plan, whose apply refuses a state that changed."""
    target = prepared.stack
    metadata = target.read_metadata()
    if metadata.get("status") != "rendered":
        return False
    if never_applied(target, metadata):
        return True
    from cmlinfra.terraform import LocalBackend

    remote = not isinstance(prepared.backend, LocalBackend)
    return locked and remote and bool(workspace.holds_nothing())


def _create(prepared: Prepared, workspace: Any, fresh: bool) -> dict[str, Any]:
    """Plan + apply in one terraform run; the outputs."""
    target = prepared.stack
    try:
        with timed(f"applying stack {target.name}"):  # terraform prints its plan first
            applied = workspace.apply_new()
    except (CmlinfraError, KeyboardInterrupt) as exc:
        if not _still_empty(workspace):
            raise _undo(prepared, workspace, exc) from exc
        if fresh:  # refused while planning (bad input), or stopped before creating anything
            target.remove()
        raise
    return applied.outputs if applied.outputs is not None else workspace.outputs()


def _still_empty(workspace: Any) -> bool:
    try:
        return bool(workspace.holds_nothing())
    except CmlinfraError:
        return False  # cannot tell: destroy, which is harmless on an empty state


def _undo(prepared: Prepared, workspace: Any, exc: BaseException) -> CmlinfraError:
    """Destroy what a failed apply created; the error that says so."""
    target = prepared.stack
    problem = exc.problem if isinstance(exc, CmlinfraError) else "interrupted"
    try:
        destroy_resources(workspace, prepared.cloud)
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
