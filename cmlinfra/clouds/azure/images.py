"""Baked images on Azure: a managed image captured from a builder VM, tagged as cmlinfra's.

``image bake --cloud azure`` boots a builder from the gpu-runner module, runs the bootstrap
steps on it, and then: powers it off and deallocates it, generalizes it (the VM can never
boot again, which is why the builder is deleted right after), and creates a managed image
from it. The image lives in its own resource group (``cmlinfra-images`` unless given), not
in the builder's, so deleting the builder's group keeps it. Managed images are created
through ARM's generic resource API (``Resources_CreateOrUpdateById``), the path the vendored
specifications describe; a runner boots it by id (``--cloud-image /subscriptions/…``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.errors import azure_errors
from cmlinfra.errors import UsageError

IMAGE_TAG = "cmlinfra:image"
IMAGE_TYPE = "Microsoft.Compute/images"
DEFAULT_GROUP = "cmlinfra-images"
NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,78}[\w]$")


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    location: str
    tags: dict[str, str]


def image_id(subscription: str, group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{IMAGE_TYPE}/{name}"


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UsageError(
            f"image name {name!r} is not valid on Azure",
            "use 2-80 letters, digits, '_', '.', '-', starting with a letter or digit",
        )
    return name


def exists(subscription: str, group: str, name: str) -> bool:
    """Whether an image of that name already exists (a bake must not overwrite one)."""
    from azure.core.exceptions import ResourceNotFoundError

    client = lookups.resources(subscription)
    with azure_errors(f"looking up image {name}"):
        try:
            client.resources.get_by_id(
                image_id(subscription, group, name), api_version=lookups.API_VERSIONS["compute"]
            )
        except ResourceNotFoundError:
            return False
    return True


def ensure_group(subscription: str, group: str, location: str) -> None:
    """The images' own resource group (created once, kept)."""
    client = lookups.resources(subscription)
    with azure_errors(f"creating resource group {group}"):
        client.resource_groups.create_or_update(
            group, {"location": location, "tags": {"managed-by": "cmlinfra"}}
        )


def publish(
    subscription: str, vm_id: str, group: str, name: str, location: str, tags: dict[str, str]
) -> Image:
    """Stop, deallocate and generalize the builder VM, then capture it as a managed image."""
    parts = vm_id.strip("/").split("/")
    vm_group, vm_name = parts[3], parts[-1]
    compute = lookups.compute(subscription)
    version = lookups.API_VERSIONS["compute"]
    with azure_errors(f"capturing {vm_name}"):
        compute.virtual_machines.begin_deallocate(vm_group, vm_name, api_version=version).result()
        compute.virtual_machines.generalize(vm_group, vm_name, api_version=version)
    ensure_group(subscription, group, location)
    target = image_id(subscription, group, name)
    body = {
        "location": location,
        "tags": {**tags, IMAGE_TAG: name},
        "properties": {"sourceVirtualMachine": {"id": vm_id}, "hyperVGeneration": "V2"},
    }
    client = lookups.resources(subscription)
    with azure_errors(f"creating image {name}"):
        created = client.resources.begin_create_or_update_by_id(
            target, api_version=version, parameters=body
        ).result()
    return Image(created.id, name, location, dict(created.tags or {}))


def list_images(subscription: str | None = None) -> list[Image]:
    """Managed images cmlinfra baked (tagged ``cmlinfra:image``), newest name last."""
    client = lookups.resources(subscription)
    found = []
    with azure_errors("listing images"):
        for item in client.resources.list(filter=f"resourceType eq '{IMAGE_TYPE}'"):
            tags = item.tags or {}
            if IMAGE_TAG in tags:
                found.append(Image(item.id, item.name, item.location or "", dict(tags)))
    return sorted(found, key=lambda i: i.name)


def delete(resource_id: str, subscription: str | None = None) -> None:
    """Delete one image by id; one already gone is fine."""
    client = lookups.resources(subscription)
    with azure_errors(f"deleting image {resource_id}"):
        client.resources.begin_delete_by_id(
            resource_id, api_version=lookups.API_VERSIONS["compute"]
        ).result()


def describe(image: Image) -> dict[str, Any]:
    return {"id": image.id, "name": image.name, "location": image.location, "tags": image.tags}
