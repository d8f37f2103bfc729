"""The Azure image store: a builder VM captured as a managed image, cmlinfra's images listed
and deleted — through Azure Resource Manager's generic resource API, the part of ARM the
vendored specifications describe (tests/clouds/azure/specs).

``publish`` powers the builder off *without* a guest shutdown (the bake's clean-up script has
synced the disks; a graceful shutdown would run the end-of-machine unit and delete the
builder's group under us), deallocates and generalizes it (it can never boot again, which is
why the bake destroys it right after), and creates ``Microsoft.Compute/images/NAME`` in the
images' own resource group (``cmlinfra-images`` or ``$CMLINFRA_AZURE_IMAGE_GROUP``) in the
builder's location, tagged with the bake's properties. A runner boots it by id:
``--cloud-image /subscriptions/…/images/NAME``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.errors import azure_errors
from cmlinfra.clouds.azure.tags import IMAGE_TAG, MANAGED_BY, image_tags
from cmlinfra.clouds.base import Image
from cmlinfra.errors import CmlinfraError, UsageError

IMAGE_TYPE = "Microsoft.Compute/images"
GROUP_ENV = "CMLINFRA_AZURE_IMAGE_GROUP"
DEFAULT_GROUP = "cmlinfra-images"
NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,78}\w\Z")


def _vm_parts(vm_id: str) -> tuple[str, str, str]:
    parts = vm_id.strip("/").split("/")
    if len(parts) != 8 or parts[6].lower() != "virtualmachines":
        raise CmlinfraError(f"{vm_id!r} is not a VM resource id", "re-apply the builder stack")
    return parts[1], parts[3], parts[7]


@dataclass
class AzureImages:
    """Managed images tagged ``cmlinfra:image`` in the subscription."""

    location: str | None = None  # where publish() makes them; None: the builder's location
    subscription: str | None = None  # None: $AZURE_SUBSCRIPTION_ID
    cloud: str = "azure"

    @property
    def group(self) -> str:
        return os.environ.get(GROUP_ENV, "").strip() or DEFAULT_GROUP

    def image_id(self, name: str) -> str:
        sub = self.subscription or lookups.subscription_id()
        return f"/subscriptions/{sub}/resourceGroups/{self.group}/providers/{IMAGE_TYPE}/{name}"

    def _existing(self, name: str) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        client = lookups.resources(self.subscription)
        with azure_errors(f"looking up image {name}"):
            try:
                found = client.resources.get_by_id(
                    self.image_id(name), api_version=lookups.API_VERSIONS["compute"]
                )
            except ResourceNotFoundError:
                return None
        return str(found.id)

    def check_free(self, name: str, *, replace: bool = False) -> None:
        if not NAME.match(name):
            raise UsageError(
                f"image name {name!r} is not valid on Azure",
                "use 2-80 letters, digits, '_', '.', '-', starting with a letter or digit",
            )
        taken = self._existing(name)
        if taken and not replace:
            raise UsageError(
                f"an Azure image named {name!r} already exists ({taken})",
                "choose another --name, or pass --replace",
            )

    def publish(
        self, instance_id: str, name: str, properties: dict[str, str], *, replace: bool = False
    ) -> str:
        sub, vm_group, vm = _vm_parts(instance_id)
        compute = lookups.compute(sub)
        version = lookups.API_VERSIONS["compute"]
        taken = self._existing(name)
        if taken and not replace:
            raise CmlinfraError(f"an Azure image named {name!r} already exists ({taken})",
                                "choose another --name")  # fmt: skip
        with azure_errors(f"capturing {vm}"):
            location = (
                self.location
                or compute.virtual_machines.get(vm_group, vm, api_version=version).location
            )
            compute.virtual_machines.begin_power_off(
                vm_group, vm, skip_shutdown=True, api_version=version
            ).result()
            compute.virtual_machines.begin_deallocate(vm_group, vm, api_version=version).result()
            compute.virtual_machines.generalize(vm_group, vm, api_version=version)
        if taken:
            self.delete(taken)
        resources = lookups.resources(sub)
        tags = {**image_tags(properties), IMAGE_TAG: name, MANAGED_BY[0]: MANAGED_BY[1]}
        body: dict[str, Any] = {
            "location": location,
            "tags": tags,
            "properties": {"sourceVirtualMachine": {"id": instance_id}, "hyperVGeneration": "V2"},
        }
        with azure_errors(f"creating image {name}"):
            resources.resource_groups.create_or_update(
                self.group, {"location": location, "tags": dict([MANAGED_BY])}
            )
            created = resources.resources.begin_create_or_update_by_id(
                self.image_id(name), api_version=version, parameters=body
            ).result()
        return str(created.id)

    def list_images(self) -> list[Image]:
        client = lookups.resources(self.subscription)
        found = []
        with azure_errors("listing images"):
            for item in client.resources.list(filter=f"resourceType eq '{IMAGE_TYPE}'"):
                tags = item.tags or {}
                if IMAGE_TAG not in tags:
                    continue
                found.append(
                    Image(
                        cloud=self.cloud,
                        id=str(item.id),
                        name=str(item.name),
                        created=tags.get("cmlinfra:created", ""),
                        base=tags.get("cmlinfra:base", ""),
                        steps=tags.get("cmlinfra:steps", ""),
                        details={"location": item.location or ""},
                    )
                )
        return sorted(found, key=lambda i: (i.created, i.name))

    def delete(self, image_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        client = lookups.resources(self.subscription)
        with azure_errors(f"deleting image {image_id}"):
            try:
                client.resources.begin_delete_by_id(
                    image_id, api_version=lookups.API_VERSIONS["compute"]
                ).result()
            except ResourceNotFoundError:
                return
