"""AWS look-ups that must happen before Terraform runs: image, spot price, network, our address.

Done with boto3 (imported lazily, so ``--help`` stays fast) rather than Terraform data sources
because each answer decides the plan (a missing image or a type not offered in the region is a
one-line error now, not a failed apply later) and because they take a second instead of a
provider init. boto3 honours ``AWS_ENDPOINT_URL``, which is how the tests point it at moto.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cmlinfra.errors import CmlinfraError, UsageError


def ec2_client(region: str) -> Any:
    """An EC2 client that gives up quickly: a dead endpoint should fail in seconds. A fresh
    session each time, so credentials and endpoint come from the environment as it is now
    (boto3's default session caches them for the life of the process)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 2, "mode": "standard"},
        user_agent_extra="cmlinfra",
    )
    return boto3.session.Session(region_name=region).client("ec2", config=config)


@contextmanager
def aws_errors(region: str, what: str) -> Iterator[None]:
    """Turn botocore's failures into one-line errors with a fix."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )
    from botocore.exceptions import (
        ConnectTimeoutError as BotoConnectTimeout,
    )

    try:
        yield
    except (EndpointConnectionError, BotoConnectTimeout) as exc:
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"ec2.{region}.amazonaws.com"
        raise CmlinfraError(
            f"cannot reach the AWS EC2 API at {endpoint} while {what} ({type(exc).__name__})",
            "check the network and proxy, or unset AWS_ENDPOINT_URL if it points nowhere",
        ) from None
    except NoCredentialsError:
        raise CmlinfraError(
            "no AWS credentials found",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or an OIDC role)",
        ) from None
    except NoRegionError:
        raise UsageError("no AWS region", "pass --cloud-region") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        if code in {"AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId"}:
            raise CmlinfraError(
                f"AWS refused {what}: {code}",
                "check the credentials and that their policy allows ec2:Describe*",
            ) from None
        raise CmlinfraError(f"AWS error while {what}: {code}: {message}") from None


def check_reachable(region: str) -> None:
    """One cheap authenticated call, so a dead endpoint or bad credentials fail up front."""
    with aws_errors(region, "checking the EC2 API"):
        ec2_client(region).describe_availability_zones(
            Filters=[{"Name": "region-name", "Values": [region]}]
        )


def describe_type(client: Any, region: str, instance_type: str) -> dict[str, Any]:
    """vCPUs, memory and GPUs of a type, and whether the region offers it at all."""
    try:
        with aws_errors(region, f"describing {instance_type}"):
            info = client.describe_instance_types(InstanceTypes=[instance_type])
    except CmlinfraError as exc:
        if "InvalidInstanceType" in exc.problem:
            raise UsageError(
                f"EC2 has no instance type {instance_type!r} (in {region})",
                "check the spelling, or use a CML size such as m+t4",
            ) from None
        raise
    item = info["InstanceTypes"][0]
    gpus = item.get("GpuInfo", {}).get("Gpus", [])
    return {
        "vcpus": item["VCpuInfo"]["DefaultVCpus"],
        "memory_gib": item["MemoryInfo"]["SizeInMiB"] / 1024,
        "gpu": gpus[0]["Name"].lower() if gpus else None,
        "gpu_count": sum(g["Count"] for g in gpus),
    }


def offered_zones(client: Any, region: str, instance_type: str) -> list[str]:
    """Availability zones of the region where the type can be launched (sorted)."""
    with aws_errors(region, f"checking where {instance_type} is offered"):
        pages = client.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="availability-zone",
            Filters=[{"Name": "instance-type", "Values": [instance_type]}],
        )
        return sorted({o["Location"] for page in pages for o in page["InstanceTypeOfferings"]})


def find_ami(client: Any, region: str, owner: str, name_pattern: str) -> dict[str, Any]:
    """The newest x86_64 image of ``owner`` whose name matches ``name_pattern``."""
    with aws_errors(region, f"looking up the image {owner}:{name_pattern}"):
        images = client.describe_images(
            Owners=[owner],
            Filters=[
                {"Name": "name", "Values": [name_pattern]},
                {"Name": "architecture", "Values": ["x86_64"]},
                {"Name": "state", "Values": ["available"]},
            ],
        )["Images"]
    if not images:
        raise UsageError(
            f"no image named {name_pattern!r} owned by {owner} in {region}",
            "check --cloud-image (ami-…, ubuntu-22.04, ubuntu-24.04, nvidia or OWNER:NAME-PATTERN)",
        )
    return max(images, key=lambda i: (i.get("CreationDate", ""), i["ImageId"]))


def _by_id(
    region: str, item_id: str, missing: str, describe: Any, ids: str, key: str
) -> list[dict[str, Any]]:
    """``describe(**{ids: [item_id]})[key]``, or ``[]`` where EC2 answers that no such id
    exists (its error code starts with ``missing``): the caller words that error."""
    try:
        with aws_errors(region, f"looking up {item_id}"):
            return list(describe(**{ids: [item_id]})[key])
    except CmlinfraError as exc:
        if missing not in exc.problem:
            raise
        return []


def image_by_id(client: Any, region: str, ami_id: str) -> dict[str, Any]:
    """The image with this id, or a one-line error when the region has none."""
    images = _by_id(region, ami_id, "InvalidAMIID", client.describe_images, "ImageIds", "Images")
    if not images:
        raise UsageError(f"image {ami_id} does not exist in {region}", "check --cloud-image")
    return images[0]


def spot_price(client: Any, region: str, instance_type: str, zones: list[str]) -> float | None:
    """The lowest current Linux spot price for the type in the given zones (None: no data)."""
    with aws_errors(region, f"reading the spot price of {instance_type}"):
        history = client.describe_spot_price_history(
            InstanceTypes=[instance_type],
            ProductDescriptions=["Linux/UNIX", "Linux/UNIX (Amazon VPC)"],
            StartTime=time.time() - 3600,
            MaxResults=100,
        )["SpotPriceHistory"]
    prices = [float(h["SpotPrice"]) for h in history if not zones or h["AvailabilityZone"] in zones]
    return min(prices) if prices else None


def default_subnet(client: Any, region: str, zones: list[str]) -> tuple[str, str] | None:
    """(vpc id, subnet id) of the default VPC's default subnet in one of ``zones``; None when
    the account has no default VPC (the network module then creates one)."""
    with aws_errors(region, "looking up the default VPC"):
        vpcs = client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            return None
        vpc_id = vpcs[0]["VpcId"]
        subnets = client.describe_subnets(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "default-for-az", "Values": ["true"]},
            ]
        )["Subnets"]
    usable = [s for s in subnets if not zones or s["AvailabilityZone"] in zones]
    if not usable:
        return None
    usable.sort(key=lambda s: (s["AvailabilityZone"], s["SubnetId"]))
    return vpc_id, usable[0]["SubnetId"]


def given_subnet(
    client: Any, region: str, subnet_id: str, zones: list[str], source: str = "--cloud-aws-subnet"
) -> tuple[str, str]:
    """(vpc id, subnet id) of a subnet the user chose, checked to exist and to be in a zone
    that offers the instance type (else the launch would fail minutes later)."""
    subnets = _by_id(
        region, subnet_id, "InvalidSubnetID", client.describe_subnets, "SubnetIds", "Subnets"
    )
    if not subnets:
        raise UsageError(f"subnet {subnet_id} does not exist in {region}", f"check {source}")
    subnet = subnets[0]
    if zones and subnet["AvailabilityZone"] not in zones:
        raise UsageError(
            f"subnet {subnet_id} is in {subnet['AvailabilityZone']}, where the instance type "
            "is not offered",
            f"choose a subnet in {', '.join(zones)}",
        )
    return subnet["VpcId"], subnet_id


def given_security_group(
    client: Any, region: str, group_id: str, vpc_id: str, port: int, allow_world: bool = False
) -> None:
    """CML's ``--cloud-aws-security-group``: the group must exist in the subnet's VPC and must
    not admit SSH from the whole internet (cmlinfra never launches a machine that way)."""
    groups = _by_id(
        region,
        group_id,
        "InvalidGroup",
        client.describe_security_groups,
        "GroupIds",
        "SecurityGroups",
    )
    if not groups:
        raise UsageError(
            f"security group {group_id} does not exist in {region}",
            "check --cloud-aws-security-group",
        )
    group = groups[0]
    if group["VpcId"] != vpc_id:
        raise UsageError(
            f"security group {group_id} is in {group['VpcId']}, the subnet in {vpc_id}",
            "give a subnet of the group's VPC with --cloud-aws-subnet",
        )
    for rule in group.get("IpPermissions", []):
        protocol = rule.get("IpProtocol")
        covers = protocol == "-1" or (
            protocol == "tcp" and rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535)
        )
        ranges = [r.get("CidrIp") for r in rule.get("IpRanges", [])]
        ranges += [r.get("CidrIpv6") for r in rule.get("Ipv6Ranges", [])]
        wide = [r for r in ranges if r and _wide_open(r)]
        if covers and wide and not allow_world:
            reach = (
                "the whole internet"
                if wide[0].endswith("/0")
                else f"{wide[0]}, more public addresses than a /16"
            )
            raise UsageError(
                f"security group {group_id} admits SSH (port {port}) from {reach}",
                "narrow its rule to the launcher's address, or drop --cloud-aws-security-group "
                "(cmlinfra then creates a group admitting only the launcher)",
            )


def _wide_open(cidr: str) -> bool:
    """A rule's range, parsed (never compared as text): wider than a /16 of public addresses."""
    from ipaddress import ip_network

    from cmlinfra.clouds.validate import wide_open

    try:
        return wide_open(ip_network(cidr, strict=False))
    except ValueError:
        return True  # a range EC2 reports but Python cannot read: assume the worst
