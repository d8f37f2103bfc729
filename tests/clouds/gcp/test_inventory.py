"""GCP inventory on the Compute fake: instances with cmlinfra's labels in every zone and status
(TERMINATED ones bill for their disk, so gc must see them), and idempotent delete."""

from __future__ import annotations

from typing import Any

from cmlinfra.clouds.gcp.inventory import GcpInventory
from tests.fixtures.gcp import GcpApi


def launch(gcp: GcpApi, zone: str, name: str, labels: dict[str, str]) -> None:
    body: dict[str, Any] = {"name": name, "labels": labels,
                            "machineType": f"zones/{zone}/machineTypes/n1-standard-4"}  # fmt: skip
    gcp.compute.handle("compute.instances.insert", {"project": "cml-test", "zone": zone}, {}, body)


def test_machines_and_delete(gcp: GcpApi) -> None:
    launch(gcp, "us-west1-b", "cml-a", {"cmlinfra-stack": "cml-a", "cmlinfra-role": "runner",
                                        "cmlinfra-expires": "1795435200"})  # fmt: skip
    launch(gcp, "europe-west1-d", "cml-b", {"cmlinfra-stack": "cml-b"})
    launch(gcp, "us-west1-b", "someone-elses", {"team": "web"})
    gcp.compute.instances["europe-west1-d/cml-b"]["status"] = "TERMINATED"  # powered off
    inventory = GcpInventory()
    machines = inventory.machines()
    assert [(m.id, m.stack, m.state, m.role) for m in machines] == [
        ("europe-west1-d/cml-b", "cml-b", "terminated", ""),
        ("us-west1-b/cml-a", "cml-a", "running", "runner"),
    ]
    assert machines[1].expires == 1795435200 and machines[1].region == "us-west1"
    inventory.delete(machines[0])
    inventory.delete(machines[0])  # it deleted itself meanwhile: not an error
    assert set(gcp.compute.instances) == {"us-west1-b/cml-a", "us-west1-b/someone-elses"}
