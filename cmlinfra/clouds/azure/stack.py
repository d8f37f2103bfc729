"""A resolved Azure machine → the StackSpec that composes the network and gpu-runner modules.

Pure data: every look-up already happened in ``resolve()``. The network module creates the
runner's own resource group; the gpu-runner module puts the VM, its disk, NIC and address in
it, so the group *is* the runner (deleting it ends everything). The azurerm provider has no
default tags, so cmlinfra's tags (stack, repo, expiry, role) go into both modules' ``tags``:
the group carries them, which is what ``gc`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmlinfra.clouds.base import Ref, ResolvedMachine, StackSpec
from cmlinfra.clouds.modules import module_path
from cmlinfra.clouds.shared import ssh_ingress

PROVIDER_SOURCE = "hashicorp/azurerm"
PROVIDER_VERSION = ">= 4.0, < 6.0"  # same constraint as the modules' versions.tf
OUTPUTS = (
    "address",
    "instance_id",
    "vm_id",
    "vm_name",
    "resource_group_name",
    "ssh_user",
    "ssh_port",
    "location",
    "public_ip",
    "private_ip",
)


def module_dir(name: str) -> Path:
    """Absolute path of ``terraform/modules/azure/<name>`` (or its copy in the wheel)."""
    return module_path("azure", name)


def cmlinfra_tags(machine: ResolvedMachine) -> dict[str, str]:
    """What garbage collection and a human in the portal need: who made it, until when."""
    extra = machine.extra
    return {
        "cmlinfra:stack": machine.request.name,
        "cmlinfra:repo": extra.get("owner_repo", ""),
        "cmlinfra:expires": extra["expires_at"],
        "managed-by": "cmlinfra",
    }


def provider_block(subscription: str) -> dict[str, Any]:
    """The azurerm provider: the subscription resolve() checked; credentials come from the
    environment (ARM_USE_OIDC, ARM_CLIENT_ID, …, or the Azure CLI) and never from here.
    Resource providers are not auto-registered: that needs subscription-wide rights a CI
    principal should not have (Compute and Network are registered in every subscription
    that has run a VM)."""
    return {
        "features": {
            # the group *is* the runner: deleting it with whatever it holds is the point
            "resource_group": {"prevent_deletion_if_contains_resources": False},
            # no guest shutdown on destroy: it would run the end-of-machine unit, whose own
            # group delete would race Terraform's
            "virtual_machine": {
                "skip_shutdown_and_force_delete": True,
                "delete_os_disk_on_deletion": True,
            },
        },
        "subscription_id": subscription,
        "resource_provider_registrations": "none",
    }


def build(machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
    """The network + gpu-runner composition for one runner."""
    request, extra = machine.request, machine.extra
    name = request.name
    tags = {**extra["tags"], **cmlinfra_tags(machine)}
    network: dict[str, Any] = {
        "name": name,
        "location": machine.region,
        **ssh_ingress(extra["ssh_cidr"], machine.request.allow_world_ssh),
        "ssh_port": request.port,
        "tags": tags,
    }
    if extra.get("subnet_id"):
        network["subnet_id"] = extra["subnet_id"]
    runner: dict[str, Any] = {
        "name": name,
        "resource_group_name": Ref("module.network.resource_group_name"),
        "resource_group_id": Ref("module.network.resource_group_id"),
        "location": machine.region,
        "vm_size": machine.instance_type,
        "subnet_id": Ref("module.network.subnet_id"),
        "network_security_group_id": Ref("module.network.network_security_group_id"),
        "ssh_public_key": ssh_public_key.strip(),
        "admin_username": extra["ssh_user"],
        "ssh_port": request.port,
        "os_disk_size_gb": extra["hdd_size_gb"],
        "spot": request.spot,
        "custom_data": extra["custom_data"],
        "user_assigned_identity_ids": list(extra.get("identity_ids", ())),
        "stack_id": name,
        "owner_repo": extra.get("owner_repo", ""),
        "expires_at": extra["expires_at"],
        "tags": tags,
    }
    if extra.get("image_id"):
        runner["source_image_id"] = extra["image_id"]
    else:
        publisher, offer, sku, version = extra["image_urn"]
        runner["source_image"] = {
            "publisher": publisher,
            "offer": offer,
            "sku": sku,
            "version": version,
        }
    if request.spot:
        runner["max_bid_price"] = extra["max_bid_price"]
    return StackSpec(
        name=name,
        cloud="azure",
        modules={
            "network": (module_dir("network"), network),
            "runner": (module_dir("gpu-runner"), runner),
        },
        providers={"azurerm": provider_block(extra["subscription_id"])},
        required_providers={"azurerm": {"source": PROVIDER_SOURCE, "version": PROVIDER_VERSION}},
        outputs={o: f"module.runner.{'vm_id' if o == 'instance_id' else o}" for o in OUTPUTS},
    )
