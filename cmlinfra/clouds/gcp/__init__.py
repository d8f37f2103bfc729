"""Google Cloud: CML's ``--cloud gcp`` on Compute Engine, built from
terraform/modules/gcp/{network,gpu-runner}.

This module is the registry entry: ``INFO`` (read for ``--help``, so it imports nothing but the
stdlib) and ``make_cloud()``. Google's clients (the ``gcp`` extra) are imported later still,
inside the functions that call Google.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.gcp.options import OPTIONS
from cmlinfra.clouds.info import POWER_OFF, Capabilities, CloudInfo

if TYPE_CHECKING:
    from cmlinfra.clouds.gcp.cloud import GcpCloud

# The startup script installs self-delete (instances.delete with the instance's own service
# account, whose only permission that is); the watchdog calls it, then powers off, which runs
# it once more through the unit's ExecStop. Without the role, the power-off leaves a
# TERMINATED instance for gc and max_run_duration.
SELF_DELETE = "/usr/local/lib/cmlinfra/self-delete"
WATCHDOG_END = f"{SELF_DELETE} || true; {POWER_OFF}"

INFO = CloudInfo(
    name="gcp",
    title="Google Cloud",
    summary="Compute Engine instances",
    aliases=("google",),
    capabilities=Capabilities(
        deleted_on_power_off=True,  # self-delete on power-off (see WATCHDOG_END)
        spot=True,
        gpus=True,
        prices_known=True,
        has_inventory=True,
        images=True,
        watchdog_end=WATCHDOG_END,
    ),
    options=OPTIONS,
)


def make_cloud() -> GcpCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("gcp")``)."""
    from cmlinfra.clouds.gcp.cloud import GcpCloud

    return GcpCloud()


__all__ = ["INFO", "make_cloud"]
