"""A resolved AWS machine → the StackSpec that composes the network and gpu-runner modules.

Pure data: every look-up already happened in ``resolve()``, so building the spec needs no
network and the same machine always gives the same spec. Values that come from the other
module are :class:`~cmlinfra.clouds.base.Ref` (``Ref("module.network.subnet_id")``), the only
values the composer writes as expressions; every string is written literally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmlinfra.clouds.aws.tags import EXPIRES_TAG, MANAGED_BY, REPO_TAG, STACK_TAG
from cmlinfra.clouds.base import Ref, ResolvedMachine, StackSpec
from cmlinfra.clouds.modules import module_path
from cmlinfra.clouds.shared import ssh_ingress

PROVIDER_SOURCE = "hashicorp/aws"
PROVIDER_VERSION = ">= 5.0, < 7.0"  # same constraint as the modules' versions.tf
OUTPUTS = (
    "address",
    "instance_id",
    "ssh_user",
    "ssh_port",
    "public_ip",
    "private_ip",
    "ami_id",
    "region",
)


def module_dir(name: str) -> Path:
    """Absolute path of ``terraform/modules/aws/<name>`` (or its copy in the wheel)."""
    return module_path("aws", name)


def default_tags(machine: ResolvedMachine) -> dict[str, str]:
    """Tags on everything the stack creates (provider default_tags): what garbage collection
    and a human in the console need to know who made it and until when it may live."""
    extra = machine.extra
    return {
        STACK_TAG: machine.request.name,
        REPO_TAG: extra.get("owner_repo", ""),
        EXPIRES_TAG: extra["expires_at"],
        MANAGED_BY[0]: MANAGED_BY[1],
    }


def network_variables(machine: ResolvedMachine) -> dict[str, Any]:
    """The network module's variables: the subnet (or a zone for a new VPC) and the stack's own
    security group, admitting SSH from the launcher's CIDR only."""
    extra = machine.extra
    network: dict[str, Any] = {
        "name": machine.request.name,
        **ssh_ingress(extra["ssh_cidr"], machine.request.allow_world_ssh),
        "ssh_port": machine.request.port,
        "tags": extra["tags"],
    }
    if extra.get("subnet_id"):
        network["subnet_id"] = extra["subnet_id"]
    elif extra.get("availability_zone"):
        network["availability_zone"] = extra["availability_zone"]
    return network


def build(machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
    """The network + gpu-runner composition for one runner."""
    request, extra = machine.request, machine.extra
    name = request.name
    # CML's --cloud-aws-security-group: the user's group in the user's (known) subnet, so the
    # network module, whose only work with a known subnet is the stack's own group, is left out.
    own_group = not extra.get("security_group_id")
    runner: dict[str, Any] = {
        "name": name,
        "instance_type": machine.instance_type,
        "subnet_id": Ref("module.network.subnet_id") if own_group else extra["subnet_id"],
        "security_group_ids": [
            Ref("module.network.security_group_id") if own_group else extra["security_group_id"]
        ],
        "ssh_public_key": ssh_public_key.strip(),
        "ami_id": machine.image,
        "ssh_user": extra["ssh_user"],
        "ssh_port": request.port,
        "spot": request.spot,
        "root_volume_size_gb": extra["hdd_size_gb"],
        "user_data": extra["user_data"],
        "stack_id": name,
        "owner_repo": extra.get("owner_repo", ""),
        "expires_at": extra["expires_at"],
        "tags": extra["tags"],
    }
    if request.spot and extra.get("spot_max_price") is not None:
        runner["spot_max_price"] = f"{extra['spot_max_price']:.5f}"
    if extra.get("instance_profile"):
        runner["instance_profile"] = extra["instance_profile"]
    return StackSpec(
        name=name,
        cloud=machine.cloud,
        modules={
            **(
                {"network": (module_dir("network"), network_variables(machine))}
                if own_group
                else {}
            ),
            "runner": (module_dir("gpu-runner"), runner),
        },
        providers={
            "aws": {"region": machine.region, "default_tags": {"tags": default_tags(machine)}}
        },
        required_providers={"aws": {"source": PROVIDER_SOURCE, "version": PROVIDER_VERSION}},
        outputs={o: f"module.runner.{o}" for o in OUTPUTS},
    )
