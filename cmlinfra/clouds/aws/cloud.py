"""The AWS cloud behind the :class:`~cmlinfra.clouds.base.Cloud` Protocol.

``resolve`` does all the checking and looking up, in order of cost: the offline catalog first
(size, GPU, region, disk, spot price, tags, image spelling: milliseconds, no credentials
needed), then the EC2 API (type offered in the region, image, spot price, default subnet) and
the launcher's own public address. Nothing is created until it has all succeeded.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cmlinfra.clouds.aws import catalog, hostkeys, lookups, userdata
from cmlinfra.clouds.aws import stack as stack_builder
from cmlinfra.clouds.base import MachineAddress, MachineRequest, ResolvedMachine, StackSpec
from cmlinfra.errors import CmlinfraError, UsageError

CANONICAL = "099720109477"
# --cloud-image aliases: (owner, name pattern, login user)
IMAGES = {
    "ubuntu-22.04": (
        CANONICAL,
        "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
        "ubuntu",
    ),
    "ubuntu-24.04": (
        CANONICAL,
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
        "ubuntu",
    ),
    "nvidia": ("amazon", "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *", "ubuntu"),
}
AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
PROFILE_ARN = re.compile(
    r"^arn:aws[\w-]*:iam::\d{12}:instance-profile/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$"
)
PROFILE_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
HOST_KEY_WAIT_ENV = "CMLINFRA_AWS_HOST_KEY_WAIT"


def image_source(image: str | None, gpu: str | None) -> tuple[str, str, str] | str:
    """``--cloud-image`` → an AMI id, or (owner, name pattern, user) to look up. Default: the
    NVIDIA-driver image for GPU types, Ubuntu 22.04 otherwise. A bare name is only searched
    among the account's own images (``self``): a public image with a look-alike name must
    never be picked by accident."""
    if image is None:
        return IMAGES["nvidia" if gpu else "ubuntu-22.04"]
    text = image.strip()
    if AMI_ID.match(text):
        return text
    if text in IMAGES:
        return IMAGES[text]
    owner, sep, pattern = text.partition(":")
    if sep and owner and pattern and re.fullmatch(r"\d{12}|self|amazon|aws-marketplace", owner):
        return (owner, pattern, "ubuntu")
    if sep:
        raise UsageError(
            f"--cloud-image {image!r} is not OWNER:NAME-PATTERN",
            "OWNER is a 12-digit account id, self, amazon or aws-marketplace",
        )
    return ("self", text, "ubuntu")


def instance_profile(permission_set: str | None) -> str | None:
    """``--cloud-permission-set``: an instance profile ARN (CML's form) or name → its name."""
    if not permission_set:
        return None
    text = permission_set.strip()
    if match := PROFILE_ARN.match(text):
        return match.group(1)
    if PROFILE_NAME.match(text) and not text.startswith("arn:"):
        return text
    raise UsageError(
        f"--cloud-permission-set {permission_set!r} is not an instance profile",
        "give arn:aws:iam::ACCOUNT:instance-profile/NAME or the profile's name",
    )


def chosen_subnet(request: MachineRequest) -> str:
    """CML's ``--cloud-aws-subnet``, else ``$CMLINFRA_AWS_SUBNET_ID`` (older workflows), else
    empty: the default VPC's subnet in a zone that offers the type."""
    return request.aws_subnet or os.environ.get(lookups.SUBNET_ENV, "").strip()


def subnet_source(request: MachineRequest) -> str:
    """Where the subnet came from, for the error that names it."""
    return "--cloud-aws-subnet" if request.aws_subnet else f"${lookups.SUBNET_ENV}"


def owner_repo() -> str:
    """The repository that launches the runner, from the CI's own variables (tag only)."""
    env = os.environ
    if env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").split("://")[-1]
        return f"{server}/{env['GITHUB_REPOSITORY']}"
    if env.get("CI_PROJECT_URL"):
        return env["CI_PROJECT_URL"].split("://")[-1]
    if env.get("BITBUCKET_REPO_FULL_NAME"):
        return f"bitbucket.org/{env['BITBUCKET_REPO_FULL_NAME']}"
    return ""


@dataclass
class AwsCloud:
    """CML-compatible AWS runners: see docs/aws.md."""

    name: str = "aws"
    public_ip_url: str | None = None  # None: $CMLINFRA_PUBLIC_IP_URL, else checkip.amazonaws.com
    host_key_wait_s: float | None = None  # None: $CMLINFRA_AWS_HOST_KEY_WAIT, else 180

    def validate(self, request: MachineRequest) -> dict[str, Any]:
        """Every offline check, so bad input fails before any credential or network is used."""
        if not NAME.match(request.name):
            raise UsageError(
                f"runner name {request.name!r} is not usable on AWS",
                "use 1-63 letters, digits or dashes",
            )
        spec = catalog.instance_spec(request.cloud_type, request.gpu)
        region = catalog.region_name(request.region)
        if request.spot_price is not None and not request.spot:
            raise UsageError("--cloud-spot-price needs --cloud-spot", "add --cloud-spot")
        spot_max = catalog.parse_spot_price(request.spot_price)
        ssh_cidr = _check_cidr(request.ssh_cidr) if request.ssh_cidr is not None else None
        subnet = chosen_subnet(request)
        if subnet and not SUBNET_ID.match(subnet):
            raise UsageError(
                f"{subnet_source(request)} {subnet!r} is not a subnet id",
                "write it as subnet-0123abcd",
            )
        group = request.aws_security_group
        if group and not GROUP_ID.match(group):
            raise UsageError(
                f"--cloud-aws-security-group {group!r} is not a security group id",
                "write it as sg-0123abcd (a group name is not enough: names are per VPC)",
            )
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
        subnet = chosen_subnet(request)
        network = (
            lookups.given_subnet(client, region, subnet, zones, subnet_source(request))
            if subnet
            else lookups.default_subnet(client, region, zones)
        )
        group = request.aws_security_group
        if group and network is None:
            raise UsageError(
                f"--cloud-aws-security-group {group} needs a subnet of its VPC ({region} has no "
                "default VPC)",
                "add --cloud-aws-subnet",
            )
        if group and network is not None:
            lookups.given_security_group(client, region, group, network[0], request.port)
        # the user's own group decides who reaches SSH: no need to learn our address then
        ssh_cidr = checked["ssh_cidr"] or (
            None if group else lookups.launcher_cidr(self.public_ip_url)
        )
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


def _region_from_env() -> str:
    """Region for the console call when the outputs don't carry it: the environment's."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise KeyError("region")
    return region


def _check_cidr(cidr: str) -> str:
    """The CIDR in canonical form (host bits cleared), refusing the whole internet."""
    import ipaddress

    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise UsageError(
            f"--ssh-cidr {cidr!r} is not a CIDR block", "write it like 203.0.113.7/32"
        ) from None
    if network.prefixlen == 0:
        raise UsageError(
            f"--ssh-cidr {cidr} opens SSH to the whole internet",
            "give the launcher's address range (default: its public address /32)",
        )
    return str(network)
