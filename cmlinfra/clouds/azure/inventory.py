"""The Azure inventory: runners as Azure Resource Manager sees them, not as any state does.

A runner *is* its resource group (the network module makes one per stack), so the machine gc
finds and deletes is the group: found by cmlinfra's ``cmlinfra:stack`` tag, judged by its
``cmlinfra:expires`` and ``cmlinfra-role`` tags and by its VM's power state (a VM that powered
off without deleting its group shows as ``stopped`` and still bills), and deleted with one
``ResourceGroups_Delete`` (VMs force-deleted), which takes the VM, disk, NIC, address and
network security group with it. Listing is subscription-wide: ``gc --region`` narrows nothing
on Azure (a group's location is reported, not used to search). Deleting a group that is
already gone is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.errors import azure_errors
from cmlinfra.clouds.azure.tags import EXPIRES_TAG, ROLE_TAG, STACK_TAG
from cmlinfra.clouds.base import Machine
from cmlinfra.clouds.tags import parse_expiry

ORDER = ("running", "starting", "stopping", "stopped", "deallocating", "deallocated")


def _power_state(client: Any, group: str) -> str:
    """The power state of the group's VM(s), the one that bills most first; ``empty``: none
    left (an evicted Spot VM, a half-deleted runner)."""
    version = lookups.API_VERSIONS["compute"]
    states = []
    for vm in client.virtual_machines.list(group, api_version=version):
        view = client.virtual_machines.instance_view(group, vm.name, api_version=version)
        codes = [s.code for s in view.statuses or [] if (s.code or "").startswith("PowerState/")]
        states.append(codes[-1].split("/", 1)[1] if codes else "unknown")
    if not states:
        return "empty"
    return next((s for s in ORDER if s in states), states[0])


@dataclass
class AzureInventory:
    """Resource groups tagged ``cmlinfra:stack`` in the subscription."""

    subscription: str | None = None  # None: $AZURE_SUBSCRIPTION_ID
    cloud: str = "azure"

    def machines(self) -> list[Machine]:
        resources = lookups.resources(self.subscription)
        compute = lookups.compute(self.subscription)
        found = []
        with azure_errors("listing cmlinfra's resource groups"):
            for group in resources.resource_groups.list(filter=f"tagName eq '{STACK_TAG}'"):
                tags = group.tags or {}
                provisioning = getattr(group.properties, "provisioning_state", "") or ""
                deleting = provisioning == "Deleting"
                found.append(
                    Machine(
                        cloud=self.cloud,
                        id=group.name,
                        stack=tags.get(STACK_TAG, ""),
                        region=(group.location or "").lower(),
                        state="deleting" if deleting else _power_state(compute, group.name),
                        expires=parse_expiry(tags.get(EXPIRES_TAG)),
                        role=tags.get(ROLE_TAG, ""),
                    )
                )
        return sorted(found, key=lambda m: m.id)

    def delete(self, machine: Machine) -> None:
        delete_group(machine.id, self.subscription)


def delete_group(name: str, subscription: str | None = None, wait: bool = True) -> None:
    """Delete one runner's group (its VMs force-deleted) and wait for ARM to finish; a group
    already gone is fine."""
    from azure.core.exceptions import ResourceNotFoundError

    client = lookups.resources(subscription)
    with azure_errors(f"deleting resource group {name}"):
        try:
            poller = client.resource_groups.begin_delete(
                name, force_deletion_types="Microsoft.Compute/virtualMachines"
            )
            if wait:
                poller.result()
        except ResourceNotFoundError:
            return
