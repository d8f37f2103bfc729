"""The flaky cloud behind the Cloud protocol: zones ``fz-a`` … ``fz-z`` as regions, two sizes,
prices per zone from the API (so ordering by price can be shown), and the classification of
the real AWS and LXD rule tables (its refusals quote those clouds' real messages)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.clouds import validate
from cmlinfra.clouds.aws.errors import RULES as AWS_RULES
from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    Machine,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.errors import classify
from cmlinfra.clouds.lxd.errors import RULES as LXD_RULES
from cmlinfra.errors import UsageError
from tests.stack.flakycloud import INFO, api

MODULE = Path(__file__).with_name("module")
REPO = Path(__file__).resolve().parents[3]
SIZES = {"m": 0.10, "l": 0.20}  # USD/hour on demand; spot is a third of it
ZONES = re.compile(r"^fz-[a-z]$")


class FlakyCloud:
    name = INFO.name
    info: CloudInfo = INFO

    def validate(self, request: MachineRequest) -> str:
        validate.stack_name(request.name)
        if request.cloud_type not in SIZES:
            raise UsageError(f"unknown size {request.cloud_type!r} for the flaky cloud", "m or l")
        zone = request.region or "fz-a"
        if not ZONES.match(zone):
            raise UsageError(f"--cloud-region {zone!r} is not a flaky zone", "use fz-a … fz-z")
        return zone

    def check_reachable(self) -> None:
        api.root()

    def any_regions(self) -> tuple[str, ...]:
        return ("fz-a", "fz-b", "fz-c")

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        zone = self.validate(request)
        behaviour = api.get("zones", zone) or {}
        if behaviour.get("lookup"):  # refused by the look-up itself (AWS: type not offered)
            raise UsageError(str(behaviour["lookup"]), "choose another --cloud-region")
        price = float(behaviour.get("price", SIZES[request.cloud_type]))
        price = round(price / 3, 4) if request.spot else price
        if request.spot and request.spot_price is not None and request.spot_price < price:
            raise UsageError(
                f"--cloud-spot-price {request.spot_price} is below the current spot price "
                f"{price} of {request.cloud_type} in {zone}",
                "raise it",
            )
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=request.cloud_type,
            region=zone,
            gpu=None,
            gpu_count=0,
            vcpus=2,
            memory_gib=4.0,
            hourly_price=price,
            image="flaky-debian",
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        variables: dict[str, Any] = {
            "name": machine.request.name,
            "zone": machine.region,
            "python": sys.executable,
        }
        return StackSpec(
            name=machine.request.name,
            cloud=self.name,
            modules={"machine": (MODULE, variables)},
            providers={},
            required_providers={},
            outputs={
                "address": "module.machine.address",
                "instance_id": "module.machine.instance_id",
            },
        )

    def terraform_environment(self) -> dict[str, str]:
        return {"PYTHONPATH": str(REPO)}  # the provisioners run the API's command line

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        return MachineAddress(str(outputs["address"]), 22, "flaky", str(outputs["instance_id"]))

    def inventory(self, scope: SweepScope) -> FlakyInventory:
        return FlakyInventory()

    def images(self, region: str | None = None) -> None:
        return None

    def cost_note(self, machine: ResolvedMachine) -> str:
        return "the flaky price list"

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return classify(error, (*LXD_RULES, *AWS_RULES))


@dataclass
class FlakyInventory:
    cloud: str = "flaky"

    def machines(self) -> list[Machine]:
        return [
            Machine(self.cloud, item["id"], item["labels"][api.STACK_LABEL], region=item["zone"])
            for item in api.items("machines")
        ]

    def delete(self, machine: Machine) -> None:
        api.delete("machines", machine.id)
