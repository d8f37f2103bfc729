"""Managed images: captured from a builder VM through ARM's generic resource API, listed by
cmlinfra's tag, deleted by id."""

from __future__ import annotations

from cmlinfra.clouds.azure import images
from tests.fixtures.azure import Arm


def test_publish_list_delete(arm: Arm) -> None:
    sub = arm.state.subscription
    vm = arm.state.add_vm("cml-bake", "cml-bake", "eastus", {"cmlinfra:stack": "cml-bake"})
    assert not images.exists(sub, "cmlinfra-images", "cml-gpu")
    image = images.publish(sub, vm["id"], "cmlinfra-images", "cml-gpu", "eastus", {"team": "ml"})
    assert image.id == images.image_id(sub, "cmlinfra-images", "cml-gpu")
    assert image.tags == {"team": "ml", "cmlinfra:image": "cml-gpu"}
    assert arm.state.power[vm["id"].lower()] == "PowerState/generalized"
    assert arm.called(
        "VirtualMachines_Deallocate", "VirtualMachines_Generalize", "ResourceGroups_CreateOrUpdate",
        "Resources_CreateOrUpdateById",
    ) == [
        "VirtualMachines_Deallocate", "VirtualMachines_Generalize", "ResourceGroups_CreateOrUpdate",
        "Resources_CreateOrUpdateById",
    ]  # fmt: skip
    stored = arm.state.resources[image.id.lower()]
    assert stored["properties"]["sourceVirtualMachine"] == {"id": vm["id"]}
    assert stored["properties"]["provisioningState"] == "Succeeded"
    assert images.exists(sub, "cmlinfra-images", "cml-gpu")
    assert [i.name for i in images.list_images()] == ["cml-gpu"]
    images.delete(image.id)
    assert images.list_images() == []
