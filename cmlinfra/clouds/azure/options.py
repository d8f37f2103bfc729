"""The Azure cloud's own option: ``--cloud-azure-subnet`` (an existing subnet instead of the
stack's own virtual network), declared here for the CLI and checked here offline. Stdlib only:
the registry reads ``OPTIONS`` for ``--help``."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from cmlinfra.clouds.info import CloudOption
from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest

SUBNET_ENV = "CMLINFRA_AZURE_SUBNET_ID"
SUBNET_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-f-]{36})/resourceGroups/(?P<rg>[\w().-]+)/providers/"
    r"Microsoft\.Network/virtualNetworks/(?P<vnet>[\w.-]+)/subnets/(?P<subnet>[\w.-]+)$",
    re.I,
)
SUBNET = CloudOption(
    "--cloud-azure-subnet",
    "Azure: put the runner's network interface in this existing subnet (its resource id), "
    "checked to exist in the runner's location, instead of a virtual network of its own "
    f"(default: ${SUBNET_ENV}).",
)
OPTIONS = (SUBNET,)


def chosen_subnet(request: MachineRequest) -> str:
    """``--cloud-azure-subnet``, else ``$CMLINFRA_AZURE_SUBNET_ID``, else empty."""
    given = request.options.get(SUBNET.flag, "").strip()
    return given or os.environ.get(SUBNET_ENV, "").strip()


def subnet_source(request: MachineRequest) -> str:
    return SUBNET.flag if request.options.get(SUBNET.flag, "").strip() else f"${SUBNET_ENV}"


def check(request: MachineRequest) -> None:
    subnet = chosen_subnet(request)
    if subnet and not SUBNET_ID.match(subnet):
        raise UsageError(
            f"{subnet_source(request)} {subnet!r} is not a subnet id",
            "give /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Network/"
            "virtualNetworks/VNET/subnets/SUBNET",
        )
