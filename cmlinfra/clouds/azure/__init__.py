"""Azure: CML's ``--cloud azure`` on Azure VMs (terraform/modules/azure/{network,gpu-runner}).

The cloud registry imports this package only when ``--cloud azure`` is asked for; the Azure
SDK is imported later still, inside the functions that call Azure.
"""

from __future__ import annotations

from cmlinfra.clouds.azure.cloud import AzureCloud


def make_cloud() -> AzureCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("azure")``)."""
    return AzureCloud()


__all__ = ["AzureCloud", "make_cloud"]
