"""Compute Engine instances carrying cmlinfra's labels, read from the Compute API (no state,
no Terraform), and their deletion: what ``cmlinfra gc`` compares with the registry.

One ``instances.aggregatedList`` call per sweep finds them in every zone, filtered on the
``cmlinfra-stack`` label, in every status: a ``TERMINATED`` instance (a guest power-off
without self-delete, a Spot preemption) still bills for its disk, so it is reported like a
running one. Delete is idempotent: an instance already gone (it deleted itself meanwhile) is
not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.base import Machine
from cmlinfra.clouds.gcp.tags import EXPIRES_LABEL, ROLE_LABEL, STACK_LABEL
from cmlinfra.clouds.tags import parse_expiry
from cmlinfra.errors import CmlinfraError


@dataclass
class GcpInventory:
    """Instances labelled ``cmlinfra-stack`` in the session's project (all zones)."""

    cloud: str = "gcp"
    _session: Any = None

    def _s(self) -> Any:
        from cmlinfra.clouds.gcp import lookups

        if self._session is None:
            self._session = lookups.session()
        return self._session

    def machines(self) -> list[Machine]:
        from cmlinfra.clouds.gcp.errors import gcp_errors

        s = self._s()
        listing = s.compute.instances()
        request = listing.aggregatedList(project=s.project, filter=f"labels.{STACK_LABEL}:*")
        found = []
        with gcp_errors("listing cmlinfra's instances", s.project):
            while request is not None:
                page = request.execute()
                for scope in page.get("items", {}).values():
                    for inst in scope.get("instances", []):
                        labels = inst.get("labels", {})
                        zone = inst.get("zone", "").rsplit("/", 1)[-1]
                        found.append(
                            Machine(
                                cloud="gcp",
                                id=f"{zone}/{inst['name']}",
                                stack=labels.get(STACK_LABEL, ""),
                                region=zone.rsplit("-", 1)[0],
                                state=str(inst.get("status", "")).lower(),
                                expires=parse_expiry(labels.get(EXPIRES_LABEL)),
                                role=labels.get(ROLE_LABEL, ""),
                            )
                        )
                request = listing.aggregatedList_next(request, page)
        return sorted(found, key=lambda m: m.id)

    def delete(self, machine: Machine) -> None:
        """Delete the instance (its auto-delete boot disk goes with it); gone already is fine."""
        from cmlinfra.clouds.gcp.errors import gcp_errors, not_found

        s = self._s()
        zone, _, name = str(machine.id).partition("/")
        try:
            with gcp_errors(f"deleting {name}", s.project):
                s.compute.instances().delete(project=s.project, zone=zone, instance=name).execute()
        except CmlinfraError as exc:
            if not not_found(exc):
                raise
