"""``--cloud lxd``: runners as containers on the local LXD daemon (scripts/localcloud.sh).

This module is the registry entry: ``INFO`` (stdlib only, read for ``--help``) and
``make_cloud()``, which loads the cloud.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.info import Capabilities, CloudInfo

if TYPE_CHECKING:
    from cmlinfra.clouds.lxd.cloud import LxdCloud

INFO = CloudInfo(
    name="lxd",
    title="LXD",
    summary="local containers",
    capabilities=Capabilities(
        deleted_on_power_off=True,  # ephemeral containers delete themselves when stopped
        gpus=True,  # a GPU of this host, passed through
        prices_known=True,  # nothing to pay: the host is already paid for
        has_inventory=True,
        images=True,
        stack_is_machine=True,  # the container is the stack's only resource
    ),
)


def make_cloud() -> LxdCloud:
    from cmlinfra.clouds.lxd.cloud import LxdCloud

    return LxdCloud()


__all__ = ["INFO", "make_cloud"]
