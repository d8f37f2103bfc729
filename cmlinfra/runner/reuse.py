"""CML's runner reuse, asked of the forge: ``--reuse`` (a runner with this name, or an online one
with every label) and ``--reuse-idle`` (one online and not busy), and the rule behind both that
two runners cannot share a name. Shared by ``runner launch`` on a cloud, ``--count`` fleets and
the local runner (``runner launch`` without ``--cloud``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cmlinfra.errors import UsageError
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import RunnerStore, records

if TYPE_CHECKING:
    from cmlinfra.runner.launch import LaunchOptions


def reusable(store: RunnerStore, opts: LaunchOptions, forge: Any) -> RunnerRecord | None:
    """CML's --reuse (a runner with this name, or an online one with all the labels) and
    --reuse-idle (one the forge reports online and not busy), asked of the forge itself as CML
    does, so a runner launched elsewhere (another registry, another tool, by hand) counts too;
    the local registry's ready runners serving this repository count as well."""
    if not (opts.reuse or opts.reuse_idle):
        return None
    found = reusable_at_forge(forge, opts.request.name, opts.labels, opts.reuse, opts.reuse_idle)
    if found is not None:
        at = {r.name: r for r in records(store)}
        return at.get(found.name) or RunnerRecord(
            name=found.name,
            cloud="",
            labels=list(found.labels),
            phase="ready",
            forge=forge.name,
            repo=forge.ctx.repo_url,
            runner_id=found.id,
        )
    if not opts.reuse:
        return None
    wanted = set(opts.labels)
    candidates = [
        r
        for r in records(store)
        if r.phase == "ready"
        and r.mode == "runner"
        and not r.expired()
        and r.forge == forge.name
        and forge.ctx.served_by(r.repo)
        and (r.name == opts.request.name or wanted <= set(r.labels))
    ]
    return candidates[0] if candidates else None


def name_free(forge: Any, name: str) -> None:
    """As CML: a runner name already registered at the forge is refused (without --reuse)."""
    if any(r.name == name for r in forge.list_runners()):
        raise UsageError(
            f"a runner named {name!r} is already registered at {forge.ctx.repo_url}",
            "pick another --name, remove it ('cmlinfra runner destroy'), or pass --reuse",
        )


def reusable_at_forge(
    forge: Any, name: str, labels: list[str], reuse: bool, reuse_idle: bool
) -> Any:
    """The forge's runner to reuse instead of launching (a ``forges.base.Runner``), or None.

    As CML: a runner already registered under this name is reused with --reuse and refused
    otherwise (two runners cannot share a name); with --reuse an online runner carrying every
    label will do; with --reuse-idle only an online one that is not busy."""
    if reuse_idle and forge.name == "bitbucket":
        raise UsageError(
            "--reuse-idle is not supported on Bitbucket: its API does not say whether a runner "
            "is busy",
            "use --reuse, or leave it out",
        )
    runners = forge.list_runners()
    same = next((r for r in runners if r.name == name), None)
    if same is not None:
        if not reuse:
            name_free(forge, name)
        return same
    wanted = set(labels)
    matching = [r for r in runners if wanted <= set(r.labels) and r.status == "online"]
    if reuse:
        return matching[0] if matching else None
    if reuse_idle:
        return next((r for r in matching if not r.busy), None)
    return None
