"""The runner's view of its stack: where its Terraform lives and how it is destroyed."""

from __future__ import annotations

import logging

from cmlinfra.clouds.base import Capabilities, Inventory
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import STACK, RunnerStore

log = logging.getLogger("cmlinfra.runner")


def _capabilities(record: RunnerRecord) -> Capabilities | None:
    """What the record's cloud can do; None for a cloud not installed here."""
    from cmlinfra.clouds import cloud_info

    try:
        return cloud_info(record.cloud).capabilities
    except UsageError:
        return None


def inventory_for(record: RunnerRecord) -> Inventory | None:
    """The record's cloud's inventory, looking where the record's machine is; None when the
    cloud keeps none, or is not installed here (nothing to look in, said in the log)."""
    from cmlinfra.clouds import get_cloud
    from cmlinfra.clouds.base import SweepScope

    try:
        cloud = get_cloud(record.cloud)
    except UsageError as exc:
        log.warning("not looking for %s's machine: %s", record.name, exc.problem)
        return None
    if not cloud.info.capabilities.has_inventory:
        return None
    scope = SweepScope(record_regions=(record.region,) if record.region else ())
    try:
        return cloud.inventory(scope)
    except CmlinfraError as exc:  # nowhere to look (no region): nothing can be found
        log.warning("not looking for %s's machine: %s", record.name, exc.problem)
        return None


def delete_machines(record: RunnerRecord, why: str = "which no Terraform state holds") -> int:
    """Delete every machine tagged with the record's name through the cloud API: what a
    Terraform run killed mid-apply created but never wrote to its state (or, on LXD, the
    container ahead of ``terraform destroy``: ``why`` says which, in the log)."""
    inventory = inventory_for(record)
    gone = 0
    for machine in inventory.machines() if inventory else []:
        if machine.stack == record.name:
            log.info("deleting %s %s, %s", machine.cloud, machine.id, why)
            inventory.delete(machine)  # type: ignore[union-attr]
            gone += 1
    return gone


def save(store: RunnerStore, name: str) -> None:
    """Keep the stack's metadata (cloud, resolved machine: data, no key, no state, no
    configuration) next to its record, so a later CI job on another machine can rebuild the
    configuration with cmlinfra's own modules and ``terraform destroy`` it."""
    import io
    import tarfile

    from cmlinfra.stack.rebuild import METADATA
    from cmlinfra.stack.store import stack_dir

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(stack_dir(name).metadata_path, arcname=METADATA)
    store.put_blob(name, STACK, buffer.getvalue())


def restore(store: RunnerStore, name: str) -> bool:
    """Recreate the stack directory from the registry's data-only record, if there is one:
    the configuration is synthesized again (:mod:`cmlinfra.stack.rebuild`), never read back.
    A record that cannot be rebuilt is logged and left to the cloud API (``delete_machines``)."""
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.stack.rebuild import read_metadata, rebuild
    from cmlinfra.stack.store import stack_dir

    data = store.get_blob(name, STACK)
    if data is None:
        return False
    target = stack_dir(name)
    try:
        rebuild(target, read_metadata(data, name), store.url)
    except (CmlinfraError, KeyError, TypeError, ValueError, AttributeError) as exc:
        target.remove()  # a damaged or tampered record: the cloud API still finds the machine
        problem = exc.problem if isinstance(exc, CmlinfraError) else f"{type(exc).__name__} {exc}"
        log.warning(
            "not destroying %s with terraform: its stored record is unusable (%s)", name, problem
        )
        return False
    return True


def destroy(store: RunnerStore, record: RunnerRecord) -> None:
    """``terraform destroy`` of the runner's stack when its directory is here, then the cloud
    API for any machine still tagged with its name. Raises if the machine could not be
    removed either way."""
    from cmlinfra.stack import service
    from cmlinfra.stack.store import stack_dir

    failure: Exception | None = None
    capabilities = _capabilities(record)
    whole = capabilities is not None and capabilities.stack_is_machine
    if whole:
        # The machine is the stack's only resource, and a provider's graceful stop is slow
        # (LXD: ~25 s); a forced delete takes ~1 s, and terraform then just forgets it.
        delete_machines(record, "before terraform destroy (a forced delete is the fast way)")
    if stack_dir(record.name).exists() or restore(store, record.name):
        try:
            service.destroy(record.name)
        except Exception as exc:  # the cloud API below still removes the machine
            log.warning("terraform destroy of %s failed: %s", record.name, exc)
            failure = exc
    delete_machines(record)
    if failure is None:
        return
    if not whole:
        raise failure  # other resources may remain: keep the stack and record for a retry
    stack_dir(record.name).remove()  # the stack is just the machine, now gone
