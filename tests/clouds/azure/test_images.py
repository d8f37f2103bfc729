"""The Azure image store: a builder VM captured as a managed image through ARM's generic
resource API, listed by cmlinfra's tag, deleted by id (idempotently)."""

from __future__ import annotations

import pytest

from cmlinfra.clouds.azure.images import AzureImages
from cmlinfra.errors import UsageError
from tests.fixtures.azure import Arm

PROPS = {
    "cmlinfra.steps": "nvidia-driver,docker",
    "cmlinfra.base": "Canonical:x:y:latest",
    "cmlinfra.created": "2026-12-04T10:00:00Z",
    "description": "cmlinfra runner image",
}


def test_publish_list_replace_delete(arm: Arm) -> None:
    vm = arm.state.add_vm("cml-bake", "cml-bake", "eastus", {"cmlinfra:stack": "cml-bake"})
    store = AzureImages()
    store.check_free("cml-gpu")
    image_id = store.publish(vm["id"], "cml-gpu", PROPS)
    assert image_id == store.image_id("cml-gpu")
    assert arm.state.power[vm["id"].lower()] == "PowerState/generalized"
    # no guest shutdown (it would run the end-of-machine unit), then deallocate, generalize
    assert arm.called(
        "VirtualMachines_PowerOff", "VirtualMachines_Deallocate", "VirtualMachines_Generalize",
        "Resources_CreateOrUpdateById",
    ) == [
        "VirtualMachines_PowerOff", "VirtualMachines_Deallocate", "VirtualMachines_Generalize",
        "Resources_CreateOrUpdateById",
    ]  # fmt: skip
    (power_off,) = [p for _, p, op in arm.state.requests if op == "VirtualMachines_PowerOff"]
    assert "skipShutdown=true" in power_off
    stored = arm.state.resources[image_id.lower()]
    assert stored["location"] == "eastus"
    assert stored["properties"]["sourceVirtualMachine"] == {"id": vm["id"]}
    assert stored["tags"]["cmlinfra:image"] == "cml-gpu"
    assert stored["tags"]["cmlinfra:steps"] == "nvidia-driver,docker"
    (listed,) = store.list_images()
    assert (listed.name, listed.steps, listed.created) == (
        "cml-gpu", "nvidia-driver,docker", "2026-12-04T10:00:00Z"
    )  # fmt: skip
    with pytest.raises(UsageError, match="an Azure image named 'cml-gpu' already exists"):
        store.check_free("cml-gpu")
    store.check_free("cml-gpu", replace=True)
    store.delete(image_id)
    store.delete(image_id)  # already gone: fine
    assert store.list_images() == []


def test_bad_names_are_refused_offline(arm: Arm) -> None:
    with pytest.raises(UsageError, match="not valid on Azure"):
        AzureImages().check_free("-nope")
    assert arm.state.requests == []
