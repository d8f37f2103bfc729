"""The Google Cloud image store: a stopped builder instance's boot disk published as an image in
the family ``cmlinfra-gpu`` (``--cloud-image cmlinfra`` boots the newest), cmlinfra's images
listed and deleted, through the Compute API.

Labels only take ``[a-z0-9_-]``, so the bake's properties (the base image's URL, the steps)
travel in the image's description as ``key=value`` lines and the labels carry
``cmlinfra-image=true`` for listing. Operations are waited on with ``*Operations.wait``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.clouds.base import Image
from cmlinfra.clouds.gcp.tags import IMAGE_FAMILY, IMAGE_LABEL, MANAGED_BY, image_labels
from cmlinfra.errors import CmlinfraError, UsageError

NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
DESCRIPTION = "cmlinfra runner image"


def _wait(s: Any, op: dict[str, Any], what: str, timeout_s: float = 3600) -> None:
    """Wait for a zonal or global operation; its error becomes a one-line CmlinfraError."""
    import time

    from cmlinfra.clouds.gcp.errors import gcp_errors

    deadline = time.monotonic() + timeout_s
    with gcp_errors(what, s.project):
        while op.get("status") != "DONE":
            if time.monotonic() > deadline:
                raise CmlinfraError(f"{what} did not finish in {timeout_s:.0f} s", "check it")
            if op.get("zone"):
                zone = op["zone"].rsplit("/", 1)[-1]
                call = s.compute.zoneOperations().wait(
                    project=s.project, zone=zone, operation=op["name"]
                )
            else:
                call = s.compute.globalOperations().wait(project=s.project, operation=op["name"])
            op = call.execute()  # returns when done or after about two minutes
    errors = op.get("error", {}).get("errors", [])
    if errors:
        first = errors[0]
        raise CmlinfraError(f"{what} failed: {first.get('code')}: {first.get('message')}")


@dataclass
class GcpImages:
    """:class:`~cmlinfra.clouds.base.ImageStore` for the session's project (images are
    global; ``region`` only says where the builder ran)."""

    region: str | None = None
    cloud: str = "gcp"
    _session: Any = field(default=None, repr=False)

    def _s(self) -> Any:
        from cmlinfra.clouds.gcp import lookups

        if self._session is None:
            self._session = lookups.session()
        return self._session

    def _get(self, name: str) -> dict[str, Any] | None:
        from cmlinfra.clouds.gcp.errors import gcp_errors, not_found

        s = self._s()
        try:
            with gcp_errors(f"looking up image {name}", s.project):
                found: dict[str, Any] = (
                    s.compute.images().get(project=s.project, image=name).execute()
                )
        except CmlinfraError as exc:
            if not_found(exc):
                return None
            raise
        return found

    def check_free(self, name: str, *, replace: bool = False) -> None:
        if not NAME.match(name):
            raise UsageError(
                f"image name {name!r} is not valid on Google Cloud",
                "use 1-63 lowercase letters, digits or dashes, starting with a letter",
            )
        if self._get(name) is not None and not replace:
            raise UsageError(
                f"an image named {name!r} already exists in project {self._s().project}",
                "choose another --name, or pass --replace",
            )

    def _instance(self, name: str) -> dict[str, Any]:
        """The builder instance (its zone is not in the address the bake has)."""
        from cmlinfra.clouds.gcp.errors import gcp_errors

        s = self._s()
        listing = s.compute.instances()
        with gcp_errors(f"finding instance {name}", s.project):
            page = listing.aggregatedList(project=s.project, filter=f'name = "{name}"').execute()
        for scope in page.get("items", {}).values():
            for inst in scope.get("instances", []):
                if inst.get("name") == name:
                    return dict(inst)
        raise CmlinfraError(f"builder instance {name} does not exist", "bake again")

    def publish(
        self, instance_id: str, name: str, properties: dict[str, str], *, replace: bool = False
    ) -> str:
        """Stop the builder, make an image of its boot disk in the ``cmlinfra-gpu`` family,
        wait until it is READY, return its self link."""
        from cmlinfra.clouds.gcp.errors import gcp_errors

        s = self._s()
        self.check_free(name, replace=replace)
        old = self._get(name)
        inst = self._instance(instance_id)
        zone = inst["zone"].rsplit("/", 1)[-1]
        with gcp_errors(f"stopping {instance_id}", s.project):
            op = s.compute.instances().stop(project=s.project, zone=zone, instance=instance_id)
            _wait(s, op.execute(), f"stopping {instance_id}")
        if old is not None:  # --replace: the name is taken by our previous image
            self.delete(str(old["name"]))
        boot = next((d for d in inst.get("disks", []) if d.get("boot")), None)
        if boot is None or not boot.get("source"):
            raise CmlinfraError(f"builder instance {instance_id} has no boot disk", "bake again")
        lines = [DESCRIPTION, *(f"{k}={v}" for k, v in sorted(properties.items()))]
        body = {
            "name": name,
            "family": IMAGE_FAMILY,
            "sourceDisk": boot["source"],
            "description": "\n".join(lines)[:2048],
            "labels": {
                IMAGE_LABEL: "true",
                MANAGED_BY[0]: MANAGED_BY[1],
                **image_labels(properties),
            },
        }
        with gcp_errors(f"publishing image {name}", s.project):
            op = s.compute.images().insert(project=s.project, body=body).execute()
        _wait(s, op, f"publishing image {name}")
        image = self._get(name)
        if image is None or image.get("status") not in (None, "READY"):
            raise CmlinfraError(f"image {name} is not READY", "check it in the console")
        return str(image["selfLink"])

    def list_images(self) -> list[Image]:
        from cmlinfra.clouds.gcp.errors import gcp_errors

        s = self._s()
        listing = s.compute.images()
        request = listing.list(project=s.project, filter=f'labels.{IMAGE_LABEL} = "true"')
        rows = []
        with gcp_errors("listing cmlinfra's images", s.project):
            while request is not None:
                page = request.execute()
                for image in page.get("items", []):
                    props = dict(
                        line.split("=", 1)
                        for line in str(image.get("description", "")).splitlines()
                        if "=" in line
                    )
                    rows.append(
                        Image(
                            cloud="gcp",
                            id=str(image["selfLink"]),
                            name=str(image["name"]),
                            created=str(image.get("creationTimestamp", ""))[:19],
                            base=props.get("cmlinfra.base", ""),
                            steps=props.get("cmlinfra.steps", ""),
                            details={
                                "family": image.get("family", ""),
                                "status": image.get("status", ""),
                            },
                        )
                    )
                request = listing.list_next(request, page)
        return sorted(rows, key=lambda r: r.created)

    def delete(self, image_id: str) -> None:
        """Delete by name or self link; an image already gone is fine."""
        from cmlinfra.clouds.gcp.errors import gcp_errors, not_found

        s = self._s()
        name = image_id.rsplit("/", 1)[-1]
        try:
            with gcp_errors(f"deleting image {name}", s.project):
                op = s.compute.images().delete(project=s.project, image=name).execute()
            _wait(s, op, f"deleting image {name}")
        except CmlinfraError as exc:
            if not not_found(exc):
                raise
