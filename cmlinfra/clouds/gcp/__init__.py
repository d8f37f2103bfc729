"""Google Cloud: CML's ``--cloud gcp`` on Compute Engine, built from
terraform/modules/gcp/{network,gpu-runner}.

The cloud registry imports this package only when ``--cloud gcp`` is asked for; Google's
clients (the ``gcp`` extra) are imported later still, inside the functions that call Google.
"""

from __future__ import annotations

from cmlinfra.clouds.gcp.cloud import GcpCloud


def make_cloud() -> GcpCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("gcp")``)."""
    return GcpCloud()


__all__ = ["GcpCloud", "make_cloud"]
