"""The runner's view of its stack: where its Terraform lives and how it is destroyed."""

from __future__ import annotations

import logging

from cmlinfra.runner.inventory import AwsInventory, Inventory, LxdInventory
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import RunnerStore

log = logging.getLogger("cmlinfra.runner")


def inventory_for(record: RunnerRecord) -> Inventory | None:
    if record.cloud == "lxd":
        return LxdInventory()
    if record.cloud == "aws" and record.region:
        return AwsInventory((record.region,))
    return None


def delete_machines(record: RunnerRecord) -> int:
    """Delete every machine tagged with the record's name through the cloud API: what a
    Terraform run killed mid-apply created but never wrote to its state."""
    inventory = inventory_for(record)
    gone = 0
    for machine in inventory.machines() if inventory else []:
        if machine.stack == record.name:
            log.info("deleting %s %s, which no Terraform state holds", machine.cloud, machine.id)
            inventory.delete(machine)  # type: ignore[union-attr]
            gone += 1
    return gone


def destroy(store: RunnerStore, record: RunnerRecord) -> None:
    """``terraform destroy`` of the runner's stack when its directory is here, then the cloud
    API for any machine still tagged with its name. Raises if the machine could not be
    removed either way."""
    from cmlinfra.stack import service
    from cmlinfra.stack.store import stack_dir

    failure: Exception | None = None
    if record.cloud == "lxd":
        # The container is the stack's only resource, and the provider's graceful stop takes
        # ~25 s; a forced delete takes ~1 s, and terraform then just forgets it.
        delete_machines(record)
    if stack_dir(record.name).exists():
        try:
            service.destroy(record.name)
        except Exception as exc:  # the cloud API below still removes the machine
            log.warning("terraform destroy of %s failed: %s", record.name, exc)
            failure = exc
    delete_machines(record)
    if failure is None:
        return
    if record.cloud != "lxd":
        raise failure  # other resources may remain: keep the stack and record for a retry
    stack_dir(record.name).remove()  # an LXD stack is just the container, now gone
