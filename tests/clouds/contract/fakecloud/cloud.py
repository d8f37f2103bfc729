"""The fake cloud behind the :class:`~cmlinfra.clouds.base.Cloud` protocol: a catalog of two
sizes and 26 zones, a Terraform module without a provider, an inventory and an image store over
the JSON-file API (``api.py``), and its own error codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cmlinfra.clouds import validate
from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    Image,
    Machine,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.errors import Rule, classify
from cmlinfra.clouds.tags import ROLE_KEY, parse_expiry
from cmlinfra.errors import CmlinfraError, UsageError
from tests.clouds.contract.fakecloud import INFO, ZONE, api

MODULE = Path(__file__).with_name("module")
SIZES = {"m": (2, 4.0, 0.05), "l": (4, 8.0, 0.10)}  # vCPUs, GiB, USD/hour
ZONES = re.compile(r"^fz-[a-z]$")
OUTPUTS = ("address", "instance_id", "ssh_user", "ssh_port")
RULES = (
    Rule(ErrorKind.CAPACITY, r"ZONE_RESOURCE_POOL_EXHAUSTED"),
    Rule(ErrorKind.QUOTA, r"QUOTA_EXCEEDED"),
    Rule(ErrorKind.AUTH, r"UNAUTHENTICATED|PERMISSION_DENIED"),
    Rule(ErrorKind.TRANSIENT, r"RETRY_LATER"),
    Rule(ErrorKind.BAD_REQUEST, r"INVALID_ARGUMENT"),
)


class FakeCloud:
    name = INFO.name
    info: CloudInfo = INFO

    def validate(self, request: MachineRequest) -> tuple[int, float, float]:
        validate.stack_name(request.name)
        validate.labels(request.metadata)
        if request.cloud_type not in SIZES:
            raise UsageError(
                f"unknown size {request.cloud_type!r} for the fake cloud", "use m or l"
            )
        zone = request.options.get(ZONE.flag, "fz-a")
        if not ZONES.match(zone):
            raise UsageError(f"{ZONE.flag} {zone!r} is not a zone", "use fz-a … fz-z")
        for option, value in (
            ("--cloud-gpu", request.gpu),
            ("--cloud-spot", request.spot),
            ("--cloud-spot-price", request.spot_price),
            ("--cloud-hdd-size", request.hdd_size_gb),
            ("--cloud-permission-set", request.permission_set),
            ("--host", request.host),
        ):
            validate.unsupported("fake", option, value)
        return SIZES[request.cloud_type]

    def check_reachable(self) -> None:
        api.root()

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        cpus, memory, price = self.validate(request)
        zone = request.options.get(ZONE.flag, "fz-a")
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=request.cloud_type,
            region=zone,
            gpu=None,
            gpu_count=0,
            vcpus=cpus,
            memory_gib=memory,
            hourly_price=price,
            image=request.image or "fake-debian",
            extra={"zone": zone},
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        expires = machine.extra.get("expires")
        labels = {
            **machine.request.metadata,
            api.STACK_LABEL: machine.request.name,
            api.EXPIRES_LABEL: str(int(expires)) if expires else "",
        }
        variables: dict[str, Any] = {
            "name": machine.request.name,
            "zone": machine.extra["zone"],
            "labels": labels,
            "ssh_public_key": ssh_public_key,
        }
        return StackSpec(
            name=machine.request.name,
            cloud=self.name,
            modules={"machine": (MODULE, variables)},
            providers={},
            required_providers={},
            outputs={name: f"module.machine.{name}" for name in OUTPUTS},
        )

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """Host keys from the API (the trusted channel), never from the network."""
        instance_id = str(outputs["instance_id"])
        record = api.get("machines", instance_id) or {}
        if not record.get("host_key"):
            raise CmlinfraError(f"the fake API has no host key for {instance_id}")
        return MachineAddress(
            host=str(outputs["address"]),
            port=int(outputs["ssh_port"]),
            user=str(outputs["ssh_user"]),
            instance_id=instance_id,
            host_keys=(str(record["host_key"]),),
        )

    def inventory(self, scope: SweepScope) -> FakeInventory:
        """Every zone: the fake API lists them all in one call."""
        return FakeInventory()

    def images(self, region: str | None = None) -> FakeImages:
        return FakeImages()

    def cost_note(self, machine: ResolvedMachine) -> str:
        return f"{machine.instance_type} in {machine.region}, the fake price list"

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return classify(error, RULES)


@dataclass
class FakeInventory:
    cloud: str = "fake"

    def machines(self) -> list[Machine]:
        found = []
        for item in api.items("machines"):
            labels = item.get("labels") or {}
            if api.STACK_LABEL not in labels:
                continue
            found.append(
                Machine(
                    cloud=self.cloud,
                    id=item["id"],
                    stack=labels[api.STACK_LABEL],
                    region=item.get("zone", ""),
                    state=item.get("state", "running"),
                    expires=parse_expiry(labels.get(api.EXPIRES_LABEL)),
                    role=labels.get(ROLE_KEY, ""),
                )
            )
        return found

    def delete(self, machine: Machine) -> None:
        api.delete("machines", machine.id)


@dataclass
class FakeImages:
    cloud: str = "fake"

    def check_free(self, name: str, *, replace: bool = False) -> None:
        taken = [i["id"] for i in api.items("images") if i["name"] == name]
        if taken and not replace:
            raise UsageError(f"a fake image named {name!r} already exists ({taken[0]})")

    def publish(
        self, instance_id: str, name: str, properties: dict[str, str], *, replace: bool = False
    ) -> str:
        self.check_free(name, replace=replace)
        image_id = f"img-{instance_id}"
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        labels = {**properties, api.IMAGE_LABEL: "true"}
        api.put("images", {"id": image_id, "name": name, "created": created, "labels": labels})
        return image_id

    def list_images(self) -> list[Image]:
        rows = [
            Image(
                cloud=self.cloud,
                id=item["id"],
                name=item["name"],
                created=item["created"],
                base=item["labels"].get("cmlinfra.base", ""),
                steps=item["labels"].get("cmlinfra.steps", ""),
            )
            for item in api.items("images")
            if item["labels"].get(api.IMAGE_LABEL) == "true"
        ]
        return sorted(rows, key=lambda r: r.created)

    def delete(self, image_id: str) -> None:
        api.delete("images", image_id)
