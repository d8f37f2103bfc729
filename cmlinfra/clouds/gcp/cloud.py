"""The Google Cloud cloud behind the :class:`~cmlinfra.clouds.base.Cloud` Protocol.

``resolve`` checks in order of cost: the offline catalog first (size, GPU on a family that can
take it, zone spelling, disk, labels, image spelling: milliseconds, no credentials), then the
Compute API (zone exists, which zones offer the machine type and GPU, GPU quota, image,
network, the self-delete role) and the launcher's own public address. Nothing is created
until all of it has succeeded.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    ImageStore,
    Inventory,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.gcp import INFO, catalog, errors, lookups, options, startup
from cmlinfra.clouds.gcp import request as req
from cmlinfra.clouds.gcp import stack as stack_builder
from cmlinfra.clouds.shared import PublicCloud, check_cidr
from cmlinfra.errors import CmlinfraError, UsageError

HOST_KEY_WAIT_ENV = "CMLINFRA_GCP_HOST_KEY_WAIT"


@dataclass
class GcpCloud(PublicCloud):
    """CML-compatible Google Cloud runners: see docs/gcp.md."""

    name: str = INFO.name
    info: CloudInfo = INFO
    public_ip_url: str | None = None  # None: $CMLINFRA_PUBLIC_IP_URL, else checkip.amazonaws.com
    host_key_wait_s: float | None = None  # None: $CMLINFRA_GCP_HOST_KEY_WAIT, else 180

    def validate(self, request: MachineRequest) -> dict[str, Any]:
        """Every offline check, so bad input fails before any credential or network is used."""
        if not req.NAME.match(request.name):
            raise UsageError(
                f"runner name {request.name!r} is not usable on Google Cloud",
                "use 1-50 lowercase letters, digits or dashes, starting with a letter",
            )
        spec = catalog.machine_spec(request.cloud_type, request.gpu, request.spot)
        region, zone = req.location(request.region)
        req.spot_price(request.spot_price)
        if not 1 <= request.port <= 65535:
            raise UsageError(f"SSH port {request.port} is out of range", "give 1 to 65535")
        options.check(request)
        if request.user and not req.USER.match(request.user):
            raise UsageError(f"SSH user {request.user!r} is not a Linux user name", "e.g. ubuntu")
        email, scopes = req.service_account(request.permission_set)
        return {
            "spec": spec,
            "region": region,
            "zone": zone,
            "hdd_size_gb": req.hdd_size(request.hdd_size_gb),
            "labels": req.labels(request.metadata),
            "image": req.image_source(request.image),
            "service_account": (email, scopes),
            "max_ttl_seconds": startup.max_ttl(request.max_ttl_seconds),
            "ssh_cidr": (
                check_cidr(request.ssh_cidr, request.allow_world_ssh) if request.ssh_cidr else None
            ),
        }

    def _zone(self, s: lookups.Session, spec: catalog.MachineSpec, region: str,
              zone: str | None) -> str:  # fmt: skip
        """The zone to launch in: the one asked for, else the first of the region that offers
        the machine type and GPU; a one-line error naming a zone that has them otherwise."""
        what = spec.machine_type + (f" with {spec.accelerator}" if spec.accelerator else "")
        if zone:
            lookups.check_zone(s, region, zone)
        offered = lookups.offering_zones(s, spec.machine_type, spec.accelerator)
        if zone and zone in offered:
            return zone
        in_region = [z for z in offered if z.startswith(f"{region}-")]
        if not zone and in_region:
            return in_region[0]
        if not zone:
            lookups.region_zones(s, region)  # an unknown region is named as such
        where = f"zone {zone}" if zone else f"region {region}"
        if not offered:
            raise UsageError(
                f"{what} is not offered in any zone visible to project {s.project}",
                "choose another --cloud-type or --cloud-gpu",
            )
        better = in_region[0] if in_region else offered[0]
        raise UsageError(
            f"{what} is not offered in {where}",
            f"use --cloud-region {better}, which offers it",
        )

    def _quota(self, s: lookups.Session, spec: catalog.MachineSpec, region: str,
               spot: bool) -> None:  # fmt: skip
        if not spec.gpu:
            return
        info = catalog.gpu_table()[spec.gpu]
        metric = info.get("spot_quota") if spot else info.get("quota")
        if spot and not metric and info.get("quota"):
            metric = f"PREEMPTIBLE_{info['quota']}"
        checks = [(metric, lookups.quota_left(s, region, metric) if metric else None, region)]
        checks.append(("GPUS_ALL_REGIONS", lookups.project_quota(s, "GPUS_ALL_REGIONS"), "all"))
        for name, found, where in checks:
            if found is None:
                continue
            limit, usage = found
            if limit - usage < spec.gpu_count:
                raise UsageError(
                    f"GPU quota exhausted: {name} in {where} regions of {s.project} allows "
                    f"{limit:g}, {usage:g} in use, {spec.gpu_count} more needed"
                    if where == "all"
                    else f"GPU quota exhausted: {name} in {where} allows {limit:g}, "
                    f"{usage:g} in use, {spec.gpu_count} more needed",
                    "request more in the console (IAM & Admin > Quotas) or choose another "
                    "--cloud-region",
                )

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        checked = self.validate(request)
        spec: catalog.MachineSpec = checked["spec"]
        region: str = checked["region"]
        s = lookups.session()
        zone = self._zone(s, spec, region, checked["zone"])
        facts = lookups.machine_type(s, zone, spec.machine_type)
        self._quota(s, spec, region, request.spot)
        image_project, family, image_name = checked["image"]
        image = lookups.image(s, image_project or s.project, image_name, family)
        network, network_source = options.network(request)
        exists = lookups.network_exists(s, network)
        if not exists and network_source:
            raise UsageError(
                f"network {network} does not exist in {s.project}", f"check {network_source}"
            )
        subnetwork, subnetwork_source = options.subnetwork(request)
        if subnetwork:
            lookups.subnetwork(s, region, subnetwork, subnetwork_source)
        cidr = checked["ssh_cidr"] or _launcher_cidr(self.public_ip_url)
        ttl = checked["max_ttl_seconds"]
        expires = time.time() + ttl
        expires_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
        email, scopes = checked["service_account"]
        labels = checked["labels"]
        repo = req.label_value(req.owner_repo())
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=spec.machine_type,
            region=region,
            gpu=spec.gpu_name or (catalog.gpu_table().get(facts["gpu"] or "", {}).get("name")),
            gpu_count=spec.gpu_count or facts["gpu_count"],
            vcpus=facts["vcpus"] or spec.vcpus,
            memory_gib=facts["memory_gib"] or spec.memory_gib,
            hourly_price=spec.hourly_price,
            image=image["selfLink"],
            extra={
                "project": s.project,
                "zone": zone,
                "accelerator": spec.accelerator,
                "accelerator_count": spec.accelerator_count,
                "image_name": image.get("name", ""),
                "ssh_user": request.user or "ubuntu",
                "ssh_cidr": cidr,
                "network": network,
                "create_network": not exists,
                "subnetwork": subnetwork or None,
                "hdd_size_gb": checked["hdd_size_gb"],
                "labels": {**labels, **({"cmlinfra-repo": repo} if repo else {})},
                "repo_label": repo,
                "service_account_email": email,
                "service_account_scopes": scopes,
                # a bake's builder (ephemeral=False) is stopped to be imaged: it must not be
                # able to delete itself when it powers off
                "self_delete_role": lookups.self_delete_role(s) if request.ephemeral else None,
                "max_ttl_seconds": ttl,
                "expires_at": expires_text,
                "expires_epoch": str(int(expires)),
                "startup_script": startup.render(request.name, ttl, expires_text, request.port),
                "price_source": "on-demand table (us-central1)"
                + ("; Spot VMs cost 60-91% less" if request.spot else ""),
            },
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        return stack_builder.build(machine, ssh_public_key)

    def check_reachable(self) -> None:
        lookups.check_reachable(lookups.session())

    def inventory(self, scope: SweepScope) -> Inventory:
        """Every zone of the project at once (one aggregatedList): the scope's regions do not
        narrow it, a runner left in another region is found too."""
        from cmlinfra.clouds.gcp.inventory import GcpInventory

        return GcpInventory()

    def images(self, region: str | None = None) -> ImageStore:
        from cmlinfra.clouds.gcp.images import GcpImages

        return GcpImages(region)

    def cost_where(self, machine: ResolvedMachine) -> str:
        """The zone when the machine has one (GCP machines live in a zone), else the region."""
        return str(machine.extra.get("zone") or machine.region)

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return errors.classify_error(error)

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """Host, user, port from the outputs; host keys from guest attributes / serial port."""
        from cmlinfra.clouds.gcp import hostkeys

        try:
            host, name = str(outputs["address"]), str(outputs["instance_id"])
            project, zone = str(outputs["project"]), str(outputs["zone"])
            user, port = str(outputs["ssh_user"]), int(outputs["ssh_port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CmlinfraError(
                f"the GCP stack's outputs lack {exc}", "re-apply the stack with this cmlinfra"
            ) from None
        wait = self.host_key_wait_s
        if wait is None:
            wait = float(os.environ.get(HOST_KEY_WAIT_ENV, "180"))
        keys, _ = hostkeys.host_keys(lookups.session(), project, zone, name, wait)
        return MachineAddress(host=host, port=port, user=user, instance_id=name, host_keys=keys)


def _launcher_cidr(url: str | None) -> str:
    """This machine's public address /32 (the same echo service every cloud asks)."""
    from cmlinfra.clouds.shared import launcher_cidr

    return launcher_cidr(url)
