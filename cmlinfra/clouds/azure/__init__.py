"""Azure: CML's ``--cloud azure`` (also ``az``) on Azure virtual machines, built from
terraform/modules/azure/{network,gpu-runner}.

This module is the registry entry: ``INFO`` (read for ``--help``, so it imports nothing but
the stdlib) and ``make_cloud()``, which loads the cloud. The Azure SDK is imported later still,
inside the functions that call Azure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.azure.options import OPTIONS
from cmlinfra.clouds.info import POWER_OFF, Capabilities, CloudInfo

if TYPE_CHECKING:
    from cmlinfra.clouds.azure.cloud import AzureCloud

# A powered-off Azure VM is only *stopped* and still bills. The custom data installs
# azure-end-machine (userdata.py), which deletes the VM's resource group through Azure
# Resource Manager with the VM's managed identity; a unit runs it on every power-off, and the
# watchdog runs it first (forced: the system is not shutting down yet), then powers off.
END_MACHINE = "/usr/local/lib/cmlinfra/azure-end-machine"
WATCHDOG_END = (
    f"if [[ -x {END_MACHINE} ]]; then CMLINFRA_END_FORCE=1 {END_MACHINE}; fi; {POWER_OFF}"
)

INFO = CloudInfo(
    name="azure",
    title="Azure",
    summary="Azure virtual machines",
    aliases=("az",),  # CML's and terraform-provider-iterative's name for it
    capabilities=Capabilities(
        deleted_on_power_off=True,  # the end-of-machine unit deletes the group on power-off
        spot=True,
        gpus=True,
        prices_known=True,
        has_inventory=True,
        images=True,
        stack_is_machine=False,  # the group holds the VM, disk, NIC, address, network
        watchdog_end=WATCHDOG_END,
    ),
    options=OPTIONS,
)


def make_cloud() -> AzureCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("azure")``)."""
    from cmlinfra.clouds.azure.cloud import AzureCloud

    return AzureCloud()


__all__ = ["INFO", "make_cloud"]
