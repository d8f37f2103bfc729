"""Azure look-ups that must happen before Terraform runs: size offered and not restricted in
the location, vCPU quota, image, subnet — through the Azure SDK for Python.

The SDK is imported inside the functions (``--help`` must not pay for it). Credentials come
from ``DefaultAzureCredential``: environment (service principal, workload identity), managed
identity, or the Azure CLI that ``azure/login`` signed in with OIDC federation. Every call
names its api-version (:data:`API_VERSIONS`), the published version the local ARM fake
validates against (tests/clouds/azure/arm), so a newer SDK cannot silently speak a dialect
the tests never saw. ``$CMLINFRA_AZURE_ARM_ENDPOINT`` points the clients elsewhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.azure.errors import arm_endpoint, azure_errors
from cmlinfra.clouds.azure.options import SUBNET_ID
from cmlinfra.errors import CmlinfraError, UsageError

API_VERSIONS = {
    "compute": "2024-03-01",  # virtual machines, usages
    "skus": "2021-07-01",  # resource SKUs
    "network": "2024-01-01",
    "resources": "2024-03-01",  # resource groups, generic resources by id
}
SUBSCRIPTION_ENVS = ("AZURE_SUBSCRIPTION_ID", "ARM_SUBSCRIPTION_ID")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)


def subscription_id() -> str:
    """``$AZURE_SUBSCRIPTION_ID`` (TPI's variable) or ``$ARM_SUBSCRIPTION_ID`` (Terraform's)."""
    for name in SUBSCRIPTION_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            if not UUID.match(value):
                raise UsageError(f"${name} {value!r} is not a subscription id", "give its GUID")
            return value
    raise CmlinfraError(
        "no Azure subscription", "set AZURE_SUBSCRIPTION_ID (or ARM_SUBSCRIPTION_ID) to its GUID"
    )


def credential() -> Any:
    """The chain every Azure tool uses; interactive logins are never tried. The SDK's own
    multi-line warnings (every credential it tried) stay out of the one-line errors unless
    ``--log debug`` asked for them."""
    import logging

    from azure.identity import DefaultAzureCredential

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in ("azure.identity", "azure.core.pipeline.policies.http_logging_policy"):
            logging.getLogger(name).setLevel(logging.ERROR)

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def _options() -> dict[str, Any]:
    """Fail fast: a dead endpoint must not hold a CI job for minutes."""
    return {
        "base_url": arm_endpoint(),
        "connection_timeout": 5,
        "read_timeout": 30,
        "retry_total": 2,
        "logging_enable": False,
    }


def compute(subscription: str | None = None) -> Any:
    from azure.mgmt.compute import ComputeManagementClient

    return ComputeManagementClient(credential(), subscription or subscription_id(), **_options())


def network(subscription: str | None = None) -> Any:
    from azure.mgmt.network import NetworkManagementClient

    return NetworkManagementClient(credential(), subscription or subscription_id(), **_options())


def resources(subscription: str | None = None) -> Any:
    from azure.mgmt.resource.resources import ResourceManagementClient

    # unlike compute and network, this client takes its api-version from the client
    return ResourceManagementClient(
        credential(),
        subscription or subscription_id(),
        api_version=API_VERSIONS["resources"],
        **_options(),
    )


def check_reachable() -> None:
    """One cheap authenticated call: a dead endpoint, no credentials, a wrong subscription or
    a principal without access fail here, before anything else is asked."""
    client = resources()
    with azure_errors("listing resource groups"):
        next(iter(client.resource_groups.list(top=1)), None)


@dataclass(frozen=True)
class Sku:
    """A VM size as the resource SKUs API describes it in one location."""

    name: str
    family: str
    vcpus: int
    memory_gib: float
    gpus: int
    generations: tuple[str, ...]  # Hyper-V generations: V1, V2
    zones: tuple[str, ...]
    restriction: str  # "" or Azure's reason (NotAvailableForSubscription, QuotaId)
    low_priority: bool  # Spot-capable


def _capabilities(item: Any) -> dict[str, str]:
    return {c.name: c.value for c in (item.capabilities or [])}


def sku(client: Any, location: str, vm_size: str) -> Sku | None:
    """The size in ``location`` (None when Azure does not offer it there at all)."""
    with azure_errors(f"listing the VM sizes of {location}"):
        items = list(
            client.resource_skus.list(
                filter=f"location eq '{location}'", api_version=API_VERSIONS["skus"]
            )
        )
    for item in items:
        if item.resource_type != "virtualMachines" or item.name.lower() != vm_size.lower():
            continue
        caps = _capabilities(item)
        info = [i for i in item.location_info or [] if (i.location or "").lower() == location]
        restriction = ""
        for r in item.restrictions or []:
            info_locations = getattr(r.restriction_info, "locations", None) or []
            scope = [x.lower() for x in (getattr(r, "values_property", None) or info_locations)]
            if r.type == "Location" and location in scope:
                restriction = str(getattr(r.reason_code, "value", r.reason_code) or "restricted")
        return Sku(
            name=item.name,
            family=item.family or "",
            vcpus=int(caps.get("vCPUs", "0")),
            memory_gib=float(caps.get("MemoryGB", "0")),
            gpus=int(caps.get("GPUs", "0")),
            generations=tuple(caps.get("HyperVGenerations", "V1").split(",")),
            zones=tuple(sorted(z for i in info for z in (i.zones or []))),
            restriction=restriction,
            low_priority=caps.get("LowPriorityCapable", "False").lower() == "true",
        )
    return None


def offered(client: Any, location: str, vm_size: str, retired: str | None = None) -> Sku:
    """The size, checked to be offered and usable by this subscription in the location."""
    found = sku(client, location, vm_size)
    hint = f" (Azure retired this series on {retired})" if retired else ""
    if found is None:
        raise UsageError(
            f"{vm_size} is not offered in {location}{hint}",
            "choose another --cloud-region or --cloud-type (az vm list-skus -l LOCATION)",
        )
    if found.restriction:
        raise UsageError(
            f"{found.name} is restricted for this subscription in {location} "
            f"({found.restriction}){hint}",
            "choose another --cloud-region or --cloud-type, or ask Azure support to lift it",
        )
    return found


def check_quota(client: Any, location: str, size: Sku, spot: bool) -> None:
    """Enough vCPU quota for one more VM of ``size``: its family's (on-demand) or the
    regional Spot quota, and the regional total — else a one-line error now instead of
    Azure's ``OperationNotAllowed`` minutes into an apply."""
    with azure_errors(f"reading the vCPU quotas of {location}"):
        usages = list(client.usage.list(location, api_version=API_VERSIONS["compute"]))
    by_name = {(u.name.value or "").lower(): u for u in usages if u.name is not None}
    wanted = ["lowprioritycores"] if spot else [size.family.lower(), "cores"]
    for key in wanted:
        usage = by_name.get(key)
        if usage is None:
            continue
        if usage.current_value + size.vcpus > usage.limit:
            label = usage.name.localized_value or usage.name.value
            raise CmlinfraError(
                f"not enough {label} quota in {location} for {size.name}: "
                f"{usage.current_value} of {usage.limit} vCPUs in use, {size.vcpus} more needed",
                "ask Azure for more (portal: Quotas > Compute), or choose another "
                "--cloud-region or --cloud-type",
            )


def image_by_id(image_id: str) -> dict[str, Any]:
    """A managed image or gallery image (version) of ours, checked to exist."""
    from azure.core.exceptions import ResourceNotFoundError

    client = resources()
    with azure_errors(f"looking up the image {image_id}"):
        try:
            found = client.resources.get_by_id(image_id, api_version=API_VERSIONS["compute"])
        except ResourceNotFoundError:
            raise UsageError(f"image {image_id} does not exist", "check --cloud-image") from None
    return {"id": found.id, "location": (found.location or "").lower(), "tags": found.tags or {}}


def given_subnet(subnet_id: str, location: str, source: str) -> str:
    """An existing subnet (``--cloud-azure-subnet``): it must exist and its network be in the
    runner's location (a NIC cannot join a network elsewhere)."""
    from azure.core.exceptions import ResourceNotFoundError

    match = SUBNET_ID.match(subnet_id)
    if not match:  # options.check() refused it already; kept for direct callers
        raise UsageError(f"{source} {subnet_id!r} is not a subnet id", f"check {source}")
    client = network(match["sub"])
    version = API_VERSIONS["network"]
    with azure_errors(f"looking up the subnet {match['subnet']}"):
        try:
            client.subnets.get(match["rg"], match["vnet"], match["subnet"], api_version=version)
            vnet = client.virtual_networks.get(match["rg"], match["vnet"], api_version=version)
        except ResourceNotFoundError:
            raise UsageError(f"subnet {subnet_id} does not exist", f"check {source}") from None
    if (vnet.location or "").lower() != location:
        raise UsageError(
            f"subnet {match['subnet']} is in {vnet.location}, the runner in {location}",
            f"give a subnet in {location}, or --cloud-region {vnet.location}",
        )
    return subnet_id
