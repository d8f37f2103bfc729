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
    """Delete every machine tagged with the record's name through the cloud API."""
    inventory = inventory_for(record)
    gone = 0
    for machine in inventory.machines() if inventory else []:
        if machine.stack == record.name:
            inventory.delete(machine)  # type: ignore[union-attr]
            gone += 1
    return gone


def destroy(store: RunnerStore, record: RunnerRecord) -> None:
    """Destroy the runner's machine."""
    delete_machines(record)
