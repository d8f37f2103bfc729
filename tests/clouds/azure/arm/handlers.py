"""One handler per Azure Resource Manager operation the fake serves, keyed by operationId.

A handler gets the state, the path parameters, the query and the JSON body, and returns a
:class:`Reply`; the server validates both sides against the specification. Long-running
operations answer as ARM does: ``202`` (or ``201``) with a ``Location`` or
``Azure-AsyncOperation`` URL that the SDK polls, the work finishing once it has been polled
(or when the test calls ``state.settle()``, since ARM finishes it whether anyone polls or not).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.clouds.azure.arm.state import ArmState, Operation


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


Handler = Callable[[ArmState, str, dict[str, str], dict[str, str], Any], Reply]
HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[operation_id] = fn
        return fn

    return register


def later(
    state: ArmState, base: str, done: Callable[[], None], kind: str = "Location"
) -> dict[str, str]:
    """Headers of a long-running operation whose work ``done`` does when it finishes."""
    op_id = state.next_id()
    state.operations[op_id] = Operation(state.polls, done)
    path = "operationresults" if kind == "Location" else "operationstatuses"
    url = f"{base}/subscriptions/{state.subscription}/providers/Microsoft.Resources/{path}/{op_id}"
    return {kind: f"{url}?api-version=2024-03-01", "Retry-After": "1"}


def not_found(kind: str, name: str, group: str = "") -> Reply:
    where = f" under resource group '{group}'" if group else ""
    return error(
        404,
        "ResourceNotFound" if group else "ResourceGroupNotFound",
        f"The Resource '{kind}/{name}'{where} was not found."
        if group
        else f"Resource group '{name}' could not be found.",
    )


# ---- resource groups ---------------------------------------------------------------------


@handles("ResourceGroups_CreateOrUpdate")
def group_put(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    existed = p["resourceGroupName"].lower() in state.groups
    group = state.add_group(p["resourceGroupName"], body["location"], body.get("tags") or {})
    return Reply(200 if existed else 201, group)


@handles("ResourceGroups_Get")
def group_get(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    group = state.groups.get(p["resourceGroupName"].lower())
    return Reply(200, group) if group else not_found("", p["resourceGroupName"])


@handles("ResourceGroups_Delete")
def group_delete(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    name = p["resourceGroupName"]
    group = state.groups.get(name.lower())
    if group is None:
        return not_found("", name)
    group["properties"]["provisioningState"] = "Deleting"
    return Reply(202, None, later(state, base, lambda: state.delete_group(name)))


FILTER = re.compile(r"^tagName eq '([^']*)'(?: and tagValue eq '([^']*)')?$")


@handles("ResourceGroups_List")
def group_list(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    groups = sorted(state.groups.values(), key=lambda g: g["name"])
    if "$filter" in q:
        match = FILTER.match(q["$filter"])
        if not match:
            return error(400, "InvalidFilterInQueryString", f"Invalid $filter {q['$filter']!r}")
        tag, value = match.groups()
        groups = [
            g for g in groups if tag in g["tags"] and (value is None or g["tags"][tag] == value)
        ]
    if "$top" in q:
        groups = groups[: int(q["$top"])]
    return Reply(200, {"value": groups})


# ---- generic resources -------------------------------------------------------------------


@handles("Resources_List")
def resources_list(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    found = sorted(state.resources.values(), key=lambda r: r["id"])
    match = re.match(r"^resourceType eq '([^']+)'$", q.get("$filter", ""))
    if "$filter" in q and not match:
        return error(400, "InvalidFilterInQueryString", f"Invalid $filter {q['$filter']!r}")
    if match:
        found = [r for r in found if r["type"].lower() == match.group(1).lower()]
    return Reply(200, {"value": found})


def _split(resource_id: str) -> tuple[str, str, str]:
    """(group, type, name) of ``subscriptions/S/resourceGroups/G/providers/NS/T/N``."""
    parts = resource_id.strip("/").split("/")
    return parts[3], "/".join(parts[5:7]), parts[-1]


@handles("Resources_GetById")
def by_id_get(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    found = state.resources.get("/" + p["resourceId"].lower())
    if found is None:
        group, kind, name = _split(p["resourceId"])
        return not_found(kind, name, group)
    return Reply(200, found)


@handles("Resources_CreateOrUpdateById")
def by_id_put(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    group, kind, name = _split(p["resourceId"])
    if group.lower() not in state.groups:
        return not_found("", group)
    resource = {
        "id": "/" + p["resourceId"],
        "name": name,
        "type": kind,
        "location": body.get("location", ""),
        "tags": body.get("tags") or {},
        "properties": {**(body.get("properties") or {}), "provisioningState": "Creating"},
    }
    state.add_resource(resource)

    def done() -> None:
        resource["properties"]["provisioningState"] = "Succeeded"

    return Reply(201, resource, later(state, base, done, "Azure-AsyncOperation"))


@handles("Resources_DeleteById")
def by_id_delete(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    key = "/" + p["resourceId"].lower()
    if key not in state.resources:
        return Reply(204)
    return Reply(202, None, later(state, base, lambda: state.resources.pop(key, None)))


# ---- compute -------------------------------------------------------------------------------


def _vm(state: ArmState, p: dict[str, str]) -> dict[str, Any] | None:
    vm_id = f"{state.group_id(p['resourceGroupName'])}/providers/Microsoft.Compute/virtualMachines/"
    return state.resources.get((vm_id + p["vmName"]).lower())


@handles("VirtualMachines_CreateOrUpdate")
def vm_put(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    if p["resourceGroupName"].lower() not in state.groups:
        return not_found("", p["resourceGroupName"])
    vm = state.add_vm(p["resourceGroupName"], p["vmName"], body["location"], body.get("tags"))
    vm["properties"].update(body.get("properties") or {})
    vm["properties"]["provisioningState"] = "Succeeded"
    return Reply(201, vm, later(state, base, lambda: None, "Azure-AsyncOperation"))


@handles("VirtualMachines_Get")
def vm_get(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    vm = _vm(state, p)
    if vm is None:
        return not_found("Microsoft.Compute/virtualMachines", p["vmName"], p["resourceGroupName"])
    return Reply(200, vm)


@handles("VirtualMachines_List")
def vm_list(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    if p["resourceGroupName"].lower() not in state.groups:
        return not_found("", p["resourceGroupName"])
    vms = [
        r for r in state.in_group(p["resourceGroupName"]) if r["type"].endswith("virtualMachines")
    ]
    return Reply(200, {"value": vms})


@handles("VirtualMachines_InstanceView")
def vm_view(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    vm = _vm(state, p)
    if vm is None:
        return not_found("Microsoft.Compute/virtualMachines", p["vmName"], p["resourceGroupName"])
    power = state.power.get(vm["id"].lower(), "PowerState/running")
    statuses = [
        {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
        },
        {"code": power, "level": "Info", "displayStatus": "VM " + power.split("/")[1]},
    ]
    return Reply(200, {"computerName": vm["name"], "statuses": statuses})


def _power(target: str) -> Handler:
    def handler(
        state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
    ) -> Reply:
        vm = _vm(state, p)
        if vm is None:
            return not_found(
                "Microsoft.Compute/virtualMachines", p["vmName"], p["resourceGroupName"]
            )

        def done() -> None:
            state.power[vm["id"].lower()] = f"PowerState/{target}"

        return Reply(202, None, later(state, base, done))

    return handler


HANDLERS["VirtualMachines_PowerOff"] = _power("stopped")
HANDLERS["VirtualMachines_Deallocate"] = _power("deallocated")


@handles("VirtualMachines_Generalize")
def vm_generalize(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    vm = _vm(state, p)
    if vm is None:
        return not_found("Microsoft.Compute/virtualMachines", p["vmName"], p["resourceGroupName"])
    if state.power.get(vm["id"].lower()) not in ("PowerState/stopped", "PowerState/deallocated"):
        return error(
            409,
            "OperationNotAllowed",
            "Operation 'generalize' is not allowed on VM "
            f"'{vm['name']}' since the VM is running. Please power off explicitly.",
        )
    state.power[vm["id"].lower()] = "PowerState/generalized"
    return Reply(200)


@handles("VirtualMachines_Delete")
def vm_delete(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    vm = _vm(state, p)
    if vm is None:
        return Reply(204)
    return Reply(202, None, later(state, base, lambda: state.resources.pop(vm["id"].lower(), None)))


@handles("VirtualMachines_RetrieveBootDiagnosticsData")
def vm_boot_diagnostics(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    vm = _vm(state, p)
    if vm is None:
        return not_found("Microsoft.Compute/virtualMachines", p["vmName"], p["resourceGroupName"])
    blob = f"{base}/bootdiagnostics/{p['vmName'].lower()}"
    return Reply(
        200,
        {
            "consoleScreenshotBlobUri": f"{blob}/screenshot.bmp?sv=2024-05-04&sig=fake",
            "serialConsoleLogBlobUri": f"{blob}/serialconsole.log?sv=2024-05-04&sig=fake",
        },
    )


@handles("Usage_List")
def usage_list(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    usages = state.usages.get(p["location"].lower(), {})
    names = {"cores": "Total Regional vCPUs", "lowPriorityCores": "Total Regional Spot vCPUs"}
    return Reply(
        200,
        {
            "value": [
                {
                    "unit": "Count",
                    "currentValue": current,
                    "limit": limit,
                    "name": {"value": name, "localizedValue": names.get(name, f"{name} vCPUs")},
                }
                for name, (current, limit) in usages.items()
            ]
        },
    )


@handles("ResourceSkus_List")
def skus_list(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    match = re.match(r"^location eq '([^']+)'$", q.get("$filter", ""))
    locations = [match.group(1).lower()] if match else sorted(state.skus)
    return Reply(200, {"value": [s for loc in locations for s in state.skus.get(loc, [])]})


# ---- network -------------------------------------------------------------------------------


def _network_id(state: ArmState, p: dict[str, str], subnet: bool) -> str:
    vnet = (
        f"{state.group_id(p['resourceGroupName'])}/providers/Microsoft.Network/virtualNetworks/"
        f"{p['virtualNetworkName']}"
    )
    return f"{vnet}/subnets/{p['subnetName']}" if subnet else vnet


@handles("VirtualNetworks_Get")
def vnet_get(state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any) -> Reply:
    found = state.resources.get(_network_id(state, p, False).lower())
    if found is None:
        return not_found(
            "Microsoft.Network/virtualNetworks", p["virtualNetworkName"], p["resourceGroupName"]
        )
    return Reply(200, found)


@handles("Subnets_Get")
def subnet_get(
    state: ArmState, base: str, p: dict[str, str], q: dict[str, str], body: Any
) -> Reply:
    found = state.resources.get(_network_id(state, p, True).lower())
    if found is None:
        return not_found("subnets", p["subnetName"], p["resourceGroupName"])
    return Reply(200, {k: v for k, v in found.items() if k != "location"})
