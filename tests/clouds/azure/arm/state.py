"""What the Azure Resource Manager fake remembers: one subscription's groups and resources,
the VM sizes and vCPU quotas of each location, serial logs, and pending async operations.

Resources are kept as the JSON the real API returns (``id``, ``name``, ``type``, ``location``,
``tags``, ``properties``), keyed by lower-cased id: ARM ids are case-insensitive.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.clouds.azure import catalog

SUBSCRIPTION = "00000000-0000-4000-8000-0000000000a2"
FAMILIES = {
    "Standard_B1s": "standardBSFamily",
    "Standard_F8s_v2": "standardFSv2Family",
    "Standard_F32s_v2": "standardFSv2Family",
    "Standard_F64s_v2": "standardFSv2Family",
    "Standard_NC4as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NC8as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NC16as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NC64as_T4_v3": "standardNCASv3_T4Family",
    "Standard_NV36ads_A10_v5": "StandardNVADSA10v5Family",
    "Standard_NV72ads_A10_v5": "StandardNVADSA10v5Family",
    "Standard_NC24ads_A100_v4": "StandardNCADSA100v4Family",
    "Standard_NC48ads_A100_v4": "StandardNCADSA100v4Family",
    "Standard_NC96ads_A100_v4": "StandardNCADSA100v4Family",
    "Standard_NC40ads_H100_v5": "standardNCadsH100v5Family",
    "Standard_NC80adis_H100_v5": "standardNCadsH100v5Family",
    "Standard_ND96isr_H100_v5": "standardNDSH100v5Family",
}
LOCATIONS = ("eastus", "westus2", "northeurope", "westeurope")


def sku_json(name: str, location: str, restricted: str = "") -> dict[str, Any]:
    """A VM size as ``ResourceSkus_List`` lists it (retired series are not listed at all)."""
    known = catalog.price_table()["sizes"][name]
    caps = {
        "vCPUs": str(known["vcpus"]),
        "MemoryGB": str(known["memory_gib"]),
        "HyperVGenerations": "V1,V2",
        "LowPriorityCapable": "True",
        "PremiumIO": "True",
    }
    if known["gpu_count"]:
        caps["GPUs"] = str(known["gpu_count"])
    item: dict[str, Any] = {
        "resourceType": "virtualMachines",
        "name": name,
        "tier": "Standard",
        "size": name.removeprefix("Standard_"),
        "family": FAMILIES[name],
        "locations": [location],
        "locationInfo": [{"location": location, "zones": ["1", "2", "3"]}],
        "capabilities": [{"name": k, "value": v} for k, v in caps.items()],
        "restrictions": [],
    }
    if restricted:
        item["restrictions"] = [
            {
                "type": "Location",
                "values": [location],
                "restrictionInfo": {"locations": [location]},
                "reasonCode": restricted,
            }
        ]
    return item


@dataclass
class Operation:
    """An async operation: pending for ``polls`` more status reads, then ``done`` runs."""

    polls: int
    done: Callable[[], None]
    finished: bool = False


@dataclass
class ArmState:
    subscription: str = SUBSCRIPTION
    token: str = "fake-arm-token"  # what ARM accepts
    issued: str | None = None  # what the identity endpoints hand out; None: ``token``
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    power: dict[str, str] = field(default_factory=dict)  # vm id -> PowerState/xxx
    serial_logs: dict[str, str] = field(default_factory=dict)  # vm name -> text
    skus: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    usages: dict[str, dict[str, list[int]]] = field(
        default_factory=dict
    )  # loc -> name -> [cur, lim]
    operations: dict[str, Operation] = field(default_factory=dict)
    errors: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path?query, op
    violations: list[str] = field(default_factory=list)
    deny_writes: bool = False  # answer AuthorizationFailed to every write
    polls: int = 0  # status reads answered "in progress" before an async operation completes
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for location in LOCATIONS:
            self.skus[location] = [
                sku_json(name, location)
                for name, known in catalog.price_table()["sizes"].items()
                if not known.get("retired")
            ]
            self.usages[location] = {"cores": [0, 350], "lowPriorityCores": [0, 100]}
            for family in sorted(set(FAMILIES.values())):
                self.usages[location][family] = [0, 100]

    def next_id(self) -> str:
        return f"{next(self._ids):08d}-0000-4000-8000-000000000000"

    def group_id(self, name: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{name}"

    def fail_next(self, operation_id: str, status: int, code: str, message: str) -> None:
        """The next call of ``operation_id`` answers this ARM error instead."""
        self.errors.setdefault(operation_id, []).append((status, code, message))

    def restrict(
        self, location: str, name: str, reason: str = "NotAvailableForSubscription"
    ) -> None:
        self.skus[location] = [s for s in self.skus[location] if s["name"] != name]
        self.skus[location].append(sku_json(name, location, reason))

    def set_quota(self, location: str, name: str, current: int, limit: int) -> None:
        self.usages[location][name] = [current, limit]

    def in_group(self, group: str) -> list[dict[str, Any]]:
        prefix = self.group_id(group).lower() + "/"
        return [r for key, r in self.resources.items() if key.startswith(prefix)]

    def delete_group(self, name: str) -> None:
        with self.lock:
            for resource in self.in_group(name):
                self.resources.pop(resource["id"].lower(), None)
                self.power.pop(resource["id"].lower(), None)
            self.groups.pop(name.lower(), None)

    def settle(self) -> None:
        """Let every pending async operation finish (ARM finishes them whether or not anyone
        polls: a machine deleting its own group never polls)."""
        with self.lock:
            for op in self.operations.values():
                if not op.finished:
                    op.finished = True
                    op.done()

    def add_group(self, name: str, location: str, tags: dict[str, str]) -> dict[str, Any]:
        group = {
            "id": self.group_id(name),
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "tags": dict(tags),
            "properties": {"provisioningState": "Succeeded"},
        }
        self.groups[name.lower()] = group
        return group

    def add_resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources[resource["id"].lower()] = resource
        return resource

    def add_vm(
        self,
        group: str,
        name: str,
        location: str = "eastus",
        tags: dict[str, str] | None = None,
        power: str = "running",
        serial_log: str = "",
    ) -> dict[str, Any]:
        """A runner VM as Terraform would have left it (the group is created if needed)."""
        if group.lower() not in self.groups:
            self.add_group(group, location, tags or {})
        vm_id = f"{self.group_id(group)}/providers/Microsoft.Compute/virtualMachines/{name}"
        vm = {
            "id": vm_id,
            "name": name,
            "type": "Microsoft.Compute/virtualMachines",
            "location": location,
            "tags": dict(tags or {}),
            "properties": {
                "vmId": self.next_id(),
                "hardwareProfile": {"vmSize": "Standard_NC4as_T4_v3"},
                "provisioningState": "Succeeded",
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
            },
        }
        self.power[vm_id.lower()] = f"PowerState/{power}"
        if serial_log:
            self.serial_logs[name.lower()] = serial_log
        return self.add_resource(vm)

    def add_subnet(self, group: str, vnet: str, subnet: str, location: str = "eastus") -> str:
        """An existing network of the user's (not a runner's): its subnet's id."""
        if group.lower() not in self.groups:
            self.add_group(group, location, {})
        vnet_id = f"{self.group_id(group)}/providers/Microsoft.Network/virtualNetworks/{vnet}"
        subnet_id = f"{vnet_id}/subnets/{subnet}"
        self.add_resource(
            {
                "id": vnet_id,
                "name": vnet,
                "type": "Microsoft.Network/virtualNetworks",
                "location": location,
                "tags": {},
                "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}},
            }
        )
        self.add_resource(
            {
                "id": subnet_id,
                "name": subnet,
                "type": "Microsoft.Network/virtualNetworks/subnets",
                "properties": {"addressPrefix": "10.9.1.0/24", "provisioningState": "Succeeded"},
            }
        )
        return subnet_id

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy({"groups": self.groups, "resources": self.resources})
