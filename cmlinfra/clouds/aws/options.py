"""The AWS cloud's own options (CML's ``--cloud-aws-subnet`` and ``--cloud-aws-security-group``):
declared here for the CLI, checked here offline. Stdlib only: the registry reads ``OPTIONS``
for ``--help``."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from cmlinfra.clouds.info import CloudOption
from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest

SUBNET_ENV = "CMLINFRA_AWS_SUBNET_ID"  # older workflows' spelling of --cloud-aws-subnet
SUBNET_ID = re.compile(r"subnet-[0-9a-f]{8,17}")
GROUP_ID = re.compile(r"sg-[0-9a-f]{8,17}")

SUBNET = CloudOption(
    "--cloud-aws-subnet",
    "AWS: launch into this subnet (subnet-…), checked to exist in a zone that offers the type "
    f"(default: ${SUBNET_ENV}, else the default VPC's).",
    aliases=("--cloud-aws-subnet-id",),
)
SECURITY_GROUP = CloudOption(
    "--cloud-aws-security-group",
    "AWS: attach this existing security group (sg-…) instead of creating one that admits SSH "
    "from the launcher only; it must be in the subnet's VPC and not admit SSH from anywhere.",
)
OPTIONS = (SUBNET, SECURITY_GROUP)


def chosen_subnet(request: MachineRequest) -> str:
    """``--cloud-aws-subnet``, else ``$CMLINFRA_AWS_SUBNET_ID`` (older workflows), else empty:
    the default VPC's subnet in a zone that offers the type."""
    given = request.options.get(SUBNET.flag, "").strip()
    return given or os.environ.get(SUBNET_ENV, "").strip()


def subnet_source(request: MachineRequest) -> str:
    """Where the subnet came from, for the error that names it."""
    return SUBNET.flag if request.options.get(SUBNET.flag, "").strip() else f"${SUBNET_ENV}"


def security_group(request: MachineRequest) -> str:
    return request.options.get(SECURITY_GROUP.flag, "").strip()


def check(request: MachineRequest) -> None:
    """The options' spelling, before any credential is used."""
    subnet = chosen_subnet(request)
    if subnet and not SUBNET_ID.fullmatch(subnet):
        raise UsageError(
            f"{subnet_source(request)} {subnet!r} is not a subnet id",
            "write it as subnet-0123abcd",
        )
    group = security_group(request)
    if group and not GROUP_ID.fullmatch(group):
        raise UsageError(
            f"{SECURITY_GROUP.flag} {group!r} is not a security group id",
            "write it as sg-0123abcd (a group name is not enough: names are per VPC)",
        )
