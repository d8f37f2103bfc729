"""The Azure cloud behind the :class:`~cmlinfra.clouds.base.Cloud` Protocol.

``resolve`` checks in order of cost: the offline catalog first (size, GPU, location, disk,
spot bid, tags, image spelling, identities: milliseconds, no credentials), then Azure Resource
Manager (subscription and credentials, size offered and not restricted in the location, vCPU
quota, image, subnet) and the launcher's own public address. Nothing is created until all of
it has passed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cmlinfra.clouds.azure import INFO, catalog, errors, hostkeys, lookups, options, userdata
from cmlinfra.clouds.azure import stack as stack_builder
from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    ImageStore,
    Inventory,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.shared import PublicCloud, check_cidr, launcher_cidr, owner_repo
from cmlinfra.errors import CmlinfraError, UsageError

NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]\Z")
IDENTITY_ID = re.compile(
    r"^/subscriptions/[0-9a-f-]{36}/resourceGroups/[\w().-]+/providers/"
    r"Microsoft\.ManagedIdentity/userAssignedIdentities/[\w-]+$",
    re.I,
)
HOST_KEY_WAIT_ENV = "CMLINFRA_AZURE_HOST_KEY_WAIT"


def identities(permission_set: str | None) -> tuple[str, ...]:
    """``--cloud-permission-set``: comma-separated user-assigned identity ids (TPI's form)."""
    if not permission_set:
        return ()
    found = tuple(p.strip() for p in permission_set.split(",") if p.strip())
    for item in found:
        if not IDENTITY_ID.match(item):
            raise UsageError(
                f"--cloud-permission-set {item!r} is not a user-assigned identity",
                "give /subscriptions/SUB/resourceGroups/RG/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/NAME (comma-separated)",
            )
    return found


@dataclass
class AzureCloud(PublicCloud):
    """CML-compatible Azure runners: see docs/azure.md."""

    name: str = INFO.name
    info: CloudInfo = INFO
    public_ip_url: str | None = None  # None: $CMLINFRA_PUBLIC_IP_URL, else an echo service
    host_key_wait_s: float | None = None  # None: $CMLINFRA_AZURE_HOST_KEY_WAIT, else 300

    def validate(self, request: MachineRequest) -> dict[str, Any]:
        """Every offline check, so bad input fails before any credential or network is used."""
        if not NAME.match(request.name):
            raise UsageError(
                f"runner name {request.name!r} is not usable on Azure",
                "use 2-63 lowercase letters, digits or dashes, starting with a letter",
            )
        spec = catalog.size_spec(request.cloud_type, request.gpu)
        location = catalog.location(request.region)
        image = catalog.image_choice(request.image, spec.gpu, request.user)
        ssh_cidr = (
            check_cidr(request.ssh_cidr, request.allow_world_ssh)
            if request.ssh_cidr is not None
            else None
        )
        if request.spot_price is not None and not request.spot:
            raise UsageError("--cloud-spot-price needs --cloud-spot", "add --cloud-spot")
        options.check(request)
        if not 1 <= request.port <= 65535:
            raise UsageError(f"SSH port {request.port} is out of range", "give 1 to 65535")
        return {
            "spec": spec,
            "location": location,
            "image": image,
            "max_bid_price": catalog.max_bid(request.spot, request.spot_price),
            "hdd_size_gb": catalog.hdd_size(request.hdd_size_gb, image.min_disk_gb),
            "tags": catalog.tags(request.metadata),
            "identity_ids": identities(request.permission_set),
            "max_ttl_seconds": userdata.max_ttl(request.max_ttl_seconds),
            "ssh_cidr": ssh_cidr,
            "subnet": options.chosen_subnet(request),
        }

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        checked = self.validate(request)
        spec: catalog.SizeSpec = checked["spec"]
        location: str = checked["location"]
        image: catalog.ImageChoice = checked["image"]
        subscription = lookups.subscription_id()
        client = lookups.compute(subscription)
        size = lookups.offered(client, location, spec.vm_size, spec.retired)
        if image.generation and image.generation not in size.generations:
            raise UsageError(
                f"{size.name} cannot boot the {image.generation} image {':'.join(image.urn or ())}",
                "choose an image of its generation with --cloud-image, or another --cloud-type",
            )
        if request.spot and not size.low_priority:
            raise UsageError(
                f"{size.name} cannot run as a Spot VM", "drop --cloud-spot or choose another size"
            )
        lookups.check_quota(client, location, size, request.spot)
        image_id = None
        if image.image_id is not None:
            found = lookups.image_by_id(image.image_id)
            image_id = found["id"]
        subnet = (
            lookups.given_subnet(checked["subnet"], location, options.subnet_source(request))
            if checked["subnet"]
            else None
        )
        ssh_cidr = checked["ssh_cidr"] or launcher_cidr(self.public_ip_url)
        ttl = checked["max_ttl_seconds"]
        expires = (datetime.now(UTC) + timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
        bid = checked["max_bid_price"]
        price, price_source = spec.hourly_price, "pay-as-you-go table (eastus)"
        if request.spot and bid is not None and bid > 0:
            price, price_source = bid, "--cloud-spot-price (the most a Spot hour can cost)"
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=size.name,
            region=location,
            gpu=spec.gpu,
            gpu_count=size.gpus or spec.gpu_count,
            vcpus=size.vcpus or spec.vcpus,
            memory_gib=size.memory_gib or spec.memory_gib,
            hourly_price=price,
            image=image_id or ":".join(image.urn or ()),
            extra={
                "subscription_id": subscription,
                "ssh_user": image.user,
                "ssh_cidr": ssh_cidr,
                "subnet_id": subnet,
                "image_urn": image.urn,
                "image_id": image_id,
                "max_bid_price": bid,
                "hdd_size_gb": checked["hdd_size_gb"],
                "tags": checked["tags"],
                "identity_ids": checked["identity_ids"],
                "family": size.family,
                "owner_repo": owner_repo(),
                "expires_at": expires,
                "custom_data": userdata.render(request.name, ttl, expires, request.port),
                "price_source": price_source,
            },
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        return stack_builder.build(machine, ssh_public_key)

    def check_reachable(self) -> None:
        lookups.check_reachable()

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """Host, user, port from the stack outputs; host keys from the serial log."""
        try:
            host = str(outputs["address"])
            vm_id = str(outputs.get("instance_id") or outputs["vm_id"])
            user, port = str(outputs["ssh_user"]), int(outputs["ssh_port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CmlinfraError(
                f"the Azure stack's outputs lack {exc}", "re-apply the stack with this cmlinfra"
            ) from None
        wait = self.host_key_wait_s
        if wait is None:
            wait = float(os.environ.get(HOST_KEY_WAIT_ENV, "300"))
        keys = hostkeys.serial_host_keys(vm_id, wait)
        return MachineAddress(host=host, port=port, user=user, instance_id=vm_id, host_keys=keys)

    def inventory(self, scope: SweepScope) -> Inventory:
        """Subscription-wide (``$AZURE_SUBSCRIPTION_ID``): Azure lists groups by tag across
        locations in one call, so ``scope``'s regions narrow nothing."""
        from cmlinfra.clouds.azure.inventory import AzureInventory

        return AzureInventory()

    def images(self, region: str | None = None) -> ImageStore:
        from cmlinfra.clouds.azure.images import AzureImages

        return AzureImages(catalog.location(region) if region else None)

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return errors.classify_error(error)
