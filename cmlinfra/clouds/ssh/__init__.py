"""``--cloud ssh``: an existing machine reached over SSH (nothing is created).

This module is the registry entry: ``INFO`` (stdlib only, read for ``--help``) and
``make_cloud()``, which loads the cloud.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.info import Capabilities, CloudInfo

if TYPE_CHECKING:
    from cmlinfra.clouds.ssh.cloud import SshCloud

INFO = CloudInfo(
    name="ssh",
    title="SSH",
    summary="an existing machine",
    capabilities=Capabilities(
        creates_machines=False,  # runner launch, exec and image bake need a cloud that does
        deleted_on_power_off=False,
        has_inventory=False,  # the machine is the user's own: gc never deletes it
        watchdog_end="",  # unregister and stop, never power somebody's machine off
    ),
)


def make_cloud() -> SshCloud:
    from cmlinfra.clouds.ssh.cloud import SshCloud

    return SshCloud()


__all__ = ["INFO", "make_cloud"]
