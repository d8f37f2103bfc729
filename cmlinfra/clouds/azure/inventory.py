"""The runners that exist on Azure, read from Azure Resource Manager, not from any state.

A runner *is* its resource group (the network module makes one per stack), so the unit gc
finds and deletes is the group: found by cmlinfra's ``cmlinfra:stack`` tag, judged by its
``cmlinfra:expires`` and ``cmlinfra-role`` tags and by its VM's power state (a VM that
powered itself off without deleting its group shows as ``stopped`` and still bills), and
deleted with one ``ResourceGroups_Delete``, which takes the VM, disk, NIC, address and
network security group with it. Deleting a group that is already gone is not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.errors import azure_errors

STACK_TAG = "cmlinfra:stack"
EXPIRES_TAG = "cmlinfra:expires"
ROLE_TAG = "cmlinfra-role"


@dataclass(frozen=True)
class Group:
    """One runner's resource group as the inventory sees it."""

    name: str
    stack: str
    location: str
    state: str  # running, stopped, deallocated, deleting, empty, …
    expires: float | None
    role: str


def parse_expiry(value: str | None) -> float | None:
    """RFC 3339 (``2026-11-27T12:00:00Z``) or Unix seconds → epoch; junk → None."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _power_state(client: Any, group: str) -> str:
    """The power state of the group's VM(s): the "worst" of them for billing purposes."""
    version = lookups.API_VERSIONS["compute"]
    states = []
    for vm in client.virtual_machines.list(group, api_version=version):
        view = client.virtual_machines.instance_view(group, vm.name, api_version=version)
        codes = [s.code for s in view.statuses or [] if (s.code or "").startswith("PowerState/")]
        states.append(codes[-1].split("/", 1)[1] if codes else "unknown")
    if not states:
        return "empty"
    for state in ("running", "starting", "stopped", "stopping", "deallocating", "deallocated"):
        if state in states:
            return state
    return states[0]


def groups(subscription: str | None = None) -> list[Group]:
    """Every resource group carrying cmlinfra's stack tag, with its VM's power state."""
    resources = lookups.resources(subscription)
    compute = lookups.compute(subscription)
    found = []
    with azure_errors("listing cmlinfra's resource groups"):
        for group in resources.resource_groups.list(filter=f"tagName eq '{STACK_TAG}'"):
            tags = group.tags or {}
            provisioning = getattr(group.properties, "provisioning_state", "") or ""
            state = "deleting" if provisioning == "Deleting" else _power_state(compute, group.name)
            found.append(
                Group(
                    name=group.name,
                    stack=tags.get(STACK_TAG, ""),
                    location=group.location,
                    state=state,
                    expires=parse_expiry(tags.get(EXPIRES_TAG)),
                    role=tags.get(ROLE_TAG, ""),
                )
            )
    return sorted(found, key=lambda g: g.name)


def delete_group(name: str, subscription: str | None = None, wait: bool = True) -> None:
    """Delete one runner's group (VMs force-deleted); a group already gone is fine."""
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
