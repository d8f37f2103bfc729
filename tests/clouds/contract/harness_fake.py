"""The fake cloud's harness: its API is a temporary directory, registered as a plugin."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from cmlinfra.clouds import PLUGINS_ENV
from cmlinfra.clouds.base import ErrorKind, MachineRequest, SweepScope
from cmlinfra.clouds.tags import ROLE_KEY
from tests.clouds.contract.fakecloud import ZONE, api
from tests.clouds.contract.kit import ErrorSample, Harness

PLUGIN = "tests.clouds.contract.fakecloud"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFak"


def plant(stack: str, role: str, expires: float | None, host_key: str = "") -> str:
    """A machine in the fake API, labelled the way the fake cloud's stacks label theirs."""
    machine_id = f"{stack}.fz-a"
    labels = {api.STACK_LABEL: stack, ROLE_KEY: role}
    if expires is not None:
        labels[api.EXPIRES_LABEL] = str(int(expires))
    api.put("machines", {"id": machine_id, "zone": "fz-a", "labels": labels, "host_key": host_key})
    return machine_id


def plant_image(name: str) -> str:
    image_id = f"img-{name}"
    created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    labels = {api.IMAGE_LABEL: "true", "cmlinfra.steps": "detect"}
    api.put("images", {"id": image_id, "name": name, "created": created, "labels": labels})
    return image_id


@pytest.fixture(scope="module")
def fake_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("fakecloud")
    prefix = f"cmlc-{secrets.token_hex(2)}-"
    env = {PLUGINS_ENV: PLUGIN, api.DIR_ENV: str(root)}

    def address_case() -> tuple[dict[str, object], tuple[str, ...]]:
        machine_id = plant(f"{prefix}addr", "stack", None, host_key=HOST_KEY)
        outputs = {"address": "192.0.2.77", "instance_id": machine_id}
        return {**outputs, "ssh_user": "fake", "ssh_port": 22}, (HOST_KEY,)

    yield Harness(
        cloud="fake",
        prefix=prefix,
        request=MachineRequest(name=f"{prefix}render", options={ZONE.flag: "fz-c"}),
        bad=[
            (MachineRequest(name=f"{prefix}x", cloud_type="xxl"), "unknown size 'xxl'"),
            (
                MachineRequest(name=f"{prefix}x", options={ZONE.flag: "mars"}),
                "--cloud-fake-zone 'mars' is not a zone",
            ),
            (MachineRequest(name=f"{prefix}x", spot=True), "--cloud-spot is not supported"),
        ],
        inject=lambda text: MachineRequest(name=f"{prefix}inject", metadata={"note": text}),
        errors=[  # the fake API's own messages (api.py), in a public cloud's style
            ErrorSample(
                "ZONE_RESOURCE_POOL_EXHAUSTED: the zone fz-a has no m machines now",
                ErrorKind.CAPACITY,
                "tests/clouds/contract/fakecloud/api.py",
            ),
            ErrorSample(
                "QUOTA_EXCEEDED: 8 of 8 machines", ErrorKind.QUOTA, "the fake API's convention"
            ),
            ErrorSample(
                "the fake cloud's API is down (no /x): RETRY_LATER",
                ErrorKind.TRANSIENT,
                "fakecloud/api.py root()",
            ),
        ],
        plant=plant,
        scope=SweepScope(),
        plant_image=plant_image,
        address_case=address_case,
        env=env,
        down={api.DIR_ENV: str(root / "down")},
    )
