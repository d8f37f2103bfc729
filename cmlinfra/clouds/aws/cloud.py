"""The AWS cloud behind the :class:`~cmlinfra.clouds.base.Cloud` Protocol.

``resolve`` does all the checking and looking up, in order of cost: the offline catalog first
(size, GPU, region, disk, spot price, tags, image spelling: milliseconds, no credentials
needed), then the EC2 API (type offered in the region, image, spot price, default subnet) and
the launcher's own public address. Nothing is created until it has all succeeded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cmlinfra.clouds import validate
from cmlinfra.clouds.aws import INFO, catalog, errors, hostkeys, lookups, options, userdata
from cmlinfra.clouds.aws import stack as stack_builder
from cmlinfra.clouds.aws.request import NAME, image_source, instance_profile
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
from cmlinfra.clouds.shared import PublicCloud, launcher_cidr, owner_repo
from cmlinfra.errors import CmlinfraError, UsageError

HOST_KEY_WAIT_ENV = "CMLINFRA_AWS_HOST_KEY_WAIT"


@dataclass
class AwsCloud(PublicCloud):
    """CML-compatible AWS runners: see docs/aws.md."""

    name: str = INFO.name
    info: CloudInfo = INFO
    public_ip_url: str | None = None  # None: $CMLINFRA_PUBLIC_IP_URL, else checkip.amazonaws.com
    host_key_wait_s: float | None = None  # None: $CMLINFRA_AWS_HOST_KEY_WAIT, else 180

    def validate(self, request: MachineRequest) -> dict[str, Any]:
        """Every offline check, so bad input fails before any credential or network is used."""
        if not NAME.fullmatch(request.name):
            raise UsageError(
                f"runner name {request.name!r} is not usable on AWS",
                "use 1-63 letters, digits or dashes",
            )
        spec = catalog.instance_spec(request.cloud_type, request.gpu)
        region = catalog.region_name(request.region)
        if request.spot_price is not None and not request.spot:
            raise UsageError("--cloud-spot-price needs --cloud-spot", "add --cloud-spot")
        spot_max = catalog.parse_spot_price(request.spot_price)
        ssh_cidr = (
            validate.ssh_cidr(request.ssh_cidr, allow_world=request.allow_world_ssh)
            if request.ssh_cidr is not None
            else None
        )
        options.check(request)
        if not 1 <= request.port <= 65535:
            raise UsageError(f"SSH port {request.port} is out of range", "give 1 to 65535")
        return {
            "spec": spec,
            "region": region,
            "spot_max_price": spot_max,
            "hdd_size_gb": catalog.hdd_size(request.hdd_size_gb),
            "tags": catalog.tags(request.metadata),
            "image": image_source(request.image, spec.gpu),
            "instance_profile": instance_profile(request.permission_set),
            "max_ttl_seconds": userdata.max_ttl(request.max_ttl_seconds),
            "ssh_cidr": ssh_cidr,
        }

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        checked = self.validate(request)
        spec: catalog.InstanceSpec = checked["spec"]
        region: str = checked["region"]
        client = lookups.ec2_client(region)
        facts = lookups.describe_type(client, region, spec.instance_type)
        zones = lookups.offered_zones(client, region, spec.instance_type)
        if not zones:
            raise UsageError(
                f"{spec.instance_type} is not offered in {region}",
                "choose another --cloud-region or --cloud-type",
            )
        zone = catalog.split_zone(request.region)[1]  # --cloud-region us-east-1a: that zone
        if zone is not None:
            if zone not in zones:
                raise UsageError(
                    f"{spec.instance_type} is not offered in the zone {zone}",
                    f"choose one of {', '.join(zones)}, or give the region {region} alone",
                )
            zones = [zone]
        image = checked["image"]
        if isinstance(image, str):
            ami, ssh_user = lookups.image_by_id(client, region, image), request.user or "ubuntu"
        else:
            ami, ssh_user = lookups.find_ami(client, region, image[0], image[1]), image[2]
        price, price_source = spec.hourly_price, "on-demand table (us-east-1)"
        if request.spot:
            current = lookups.spot_price(client, region, spec.instance_type, zones)
            cap = checked["spot_max_price"]
            if current is not None and cap is not None and cap < current:
                raise UsageError(
                    f"--cloud-spot-price {cap} is below the current spot price {current} "
                    f"of {spec.instance_type} in {region}; the request would never be fulfilled",
                    "raise it, or pass -1 to pay up to the on-demand price",
                )
            if current is not None:
                price, price_source = current, "spot price history"
        subnet = options.chosen_subnet(request)
        network = (
            lookups.given_subnet(client, region, subnet, zones, options.subnet_source(request))
            if subnet
            else lookups.default_subnet(client, region, zones)
        )
        group = options.security_group(request) or None
        if group and network is None:
            raise UsageError(
                f"{options.SECURITY_GROUP.flag} {group} needs a subnet of its VPC ({region} has "
                "no default VPC)",
                f"add {options.SUBNET.flag}",
            )
        if group and network is not None:
            lookups.given_security_group(
                client, region, group, network[0], request.port, request.allow_world_ssh
            )
        # the user's own group decides who reaches SSH: no need to learn our address then
        ssh_cidr = checked["ssh_cidr"] or (None if group else launcher_cidr(self.public_ip_url))
        ttl = checked["max_ttl_seconds"]
        expires = (datetime.now(UTC) + timedelta(seconds=ttl)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=spec.instance_type,
            region=region,
            gpu=facts["gpu"] or spec.gpu,
            gpu_count=facts["gpu_count"],
            vcpus=facts["vcpus"],
            memory_gib=facts["memory_gib"],
            hourly_price=price,
            image=ami["ImageId"],
            extra={
                "image_name": ami.get("Name", ""),
                "ssh_user": request.user or ssh_user,
                "ssh_cidr": ssh_cidr,
                "subnet_id": network[1] if network else None,
                "vpc_id": network[0] if network else None,
                "security_group_id": group,
                "availability_zone": zones[0],
                "spot_max_price": checked["spot_max_price"],
                "hdd_size_gb": checked["hdd_size_gb"],
                "tags": checked["tags"],
                "instance_profile": checked["instance_profile"],
                "owner_repo": owner_repo(),
                "expires_at": expires,
                "user_data": userdata.render(request.name, ttl, expires, request.port),
                "price_source": price_source,
            },
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        return stack_builder.build(machine, ssh_public_key)

    def check_reachable(self, region: str | None = None) -> None:
        lookups.check_reachable(catalog.region_name(region))

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """Host, user, port from the stack outputs; host keys from the console output."""
        try:
            host, instance_id = str(outputs["address"]), str(outputs["instance_id"])
            user, port = str(outputs["ssh_user"]), int(outputs["ssh_port"])
            region = str(outputs.get("region") or _region_from_env())
        except (KeyError, TypeError, ValueError) as exc:
            raise CmlinfraError(
                f"the AWS stack's outputs lack {exc}", "re-apply the stack with this cmlinfra"
            ) from None
        wait = self.host_key_wait_s
        if wait is None:
            wait = float(os.environ.get(HOST_KEY_WAIT_ENV, "180"))
        keys = hostkeys.console_host_keys(region, instance_id, wait)
        return MachineAddress(
            host=host, port=port, user=user, instance_id=instance_id, host_keys=keys
        )

    def inventory(self, scope: SweepScope) -> Inventory:
        from cmlinfra.clouds.aws.inventory import AwsInventory, sweep_regions

        return AwsInventory(sweep_regions(scope))

    def images(self, region: str | None = None) -> ImageStore:
        from cmlinfra.clouds.aws.images import AwsImages

        return AwsImages(catalog.region_name(region) if region else None)

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return errors.classify_error(error)


def _region_from_env() -> str:
    """Region for the console call when the outputs don't carry it: the environment's."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise KeyError("region")
    return region
