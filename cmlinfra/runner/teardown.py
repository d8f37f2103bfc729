"""Destroying one runner completely: the single path used by ``runner destroy``, by a failed
launch, by ``exec`` on exit, and by ``gc``.

Order matters. The forge registration goes first (a runner that can still be handed a job must
not lose its machine under it), then the machine and everything Terraform created with it, and
the record last — so that a teardown interrupted at any point leaves a record for ``gc``.
"""

from __future__ import annotations

import logging
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import RunnerStore, holding, open_store, records

log = logging.getLogger("cmlinfra.runner")


def forge_for(forge: Any, record: RunnerRecord) -> Any:
    """The driver that can unregister ``record``'s runner. Usually ``forge`` itself; a runner
    registered elsewhere on the same forge (an organization's pool, launched with
    ``--repo https://github.com/ORG``, destroyed from a repository's CI job) gets the same
    forge and token pointed at the record's URL. None for another forge or no forge.

    A record on this forge that the driver cannot be pointed at (another host) raises:
    falling back to the caller's own repository would answer 404, read as "already gone",
    and forget a runner that is still registered.

    The record's own web and API base (kept since launch: a GitLab under a relative URL,
    ``https://host/gitlab``, which ``--repo`` outside CI cannot tell) point the driver
    there, on this connection's hosts only (ForgeContext.retarget)."""
    if forge is None or (record.forge and record.forge != forge.name):
        return None
    context = getattr(forge, "ctx", None)
    if context is None or not record.repo:
        return forge
    here = (context.repo_url, context.web_url, context.api_url)
    if (record.repo, record.web_url or here[1], record.api_url or here[2]) == here:
        return forge
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges import connect

    there = context.retarget(record.repo, base=record.web_url, api=record.api_url)
    if there is None:
        raise CmlinfraError(
            f"{record.name} is registered at {record.repo}, which this {forge.name} "
            f"connection ({context.web_url}) cannot reach: not unregistering, record kept",
            f"run 'cmlinfra gc --repo {record.repo}' with a token for that host",
        )
    if (there.repo_url, there.web_url, there.api_url) == here:
        return forge
    return connect(there)


def unregister(forge: Any, record: RunnerRecord) -> None:
    """Remove the runner at the forge; already gone is fine (the node or GitHub removed it).
    Without a runner id (the launcher died between registering and saving it), by name."""
    forge = forge_for(forge, record)
    if forge is None:
        return
    from cmlinfra.errors import CmlinfraError

    runner_id = record.runner_id
    if not runner_id:
        runner_id = next((str(r.id) for r in forge.list_runners() if r.name == record.name), "")
    if not runner_id:
        return
    try:
        forge.remove_runner(runner_id)
    except CmlinfraError as exc:
        if "404" in exc.problem or "not found" in exc.problem.lower():
            return
        raise


def destroy_machine(store: RunnerStore, record: RunnerRecord) -> None:
    """Destroy the runner's stack with Terraform, falling back to the cloud API for the
    machine itself when the stack cannot be destroyed (no configuration left, say)."""
    from cmlinfra.runner import stacks

    stacks.destroy(store, record)


def destroy_record(
    store: RunnerStore, record: RunnerRecord, *, forge: Any = None, locked: bool = False
) -> None:
    """Unregister, destroy, forget. ``locked``: the caller already holds the lock."""
    if not locked:
        with holding(store, record.name, "destroy"):
            destroy_record(store, record, forge=forge, locked=True)
        return
    record.phase = "destroying"
    store.put(record)
    unregister(forge, record)
    destroy_machine(store, record)
    store.delete(record.name)
    log.info("runner %s destroyed", record.name)


def destroy(names: list[str], *, all_: bool, state: str | None, forge_spec: Any) -> list[str]:
    """``runner destroy NAME… | --all``: unregister and destroy; returns the names destroyed."""
    from concurrent.futures import ThreadPoolExecutor

    from cmlinfra.runner.signals import shielded

    store = open_store(state)
    targets = [r for r in records(store) if all_ or r.name in names]
    missing = sorted(set(names) - {r.name for r in targets})
    if missing:
        raise CmlinfraError(
            f"no runner named {', '.join(map(repr, missing))} in {store.url}",
            "list them with 'cmlinfra runner list'",
        )
    forge = _forge_or_none(*forge_spec) if targets else None
    with shielded(), ThreadPoolExecutor(max_workers=4) as pool:  # separate stacks: in parallel
        futures = {
            record.name: pool.submit(destroy_record, store, record, forge=forge)
            for record in targets
        }
    failed = {name: f.exception() for name, f in futures.items() if f.exception()}
    if failed:
        name, exc = next(iter(failed.items()))
        if len(failed) == 1 and isinstance(exc, CmlinfraError):  # its own fix says what to do
            raise CmlinfraError(f"destroying {name} failed: {exc.problem}", exc.fix)
        raise CmlinfraError(
            f"destroying {', '.join(failed)} failed ({name}: {exc})",
            "re-run 'cmlinfra runner destroy', or 'cmlinfra gc --yes'",
        )
    return [record.name for record in targets]


def _forge_or_none(driver: str | None, repo: str | None, token: str | None) -> Any:
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect
    from cmlinfra.ui import progress

    try:
        return connect(detect(driver=driver, repo=repo, token=token, owner_ok=True))
    except CmlinfraError as exc:
        progress(f"not unregistering at the forge ({exc.problem}); 'cmlinfra gc' can later")
        return None
