"""A cloud that lives only in the test suite, registered through ``$CMLINFRA_CLOUD_PLUGINS``
(``tests.clouds.contract.fakecloud``): the proof that a cloud is one package. Nothing outside
this directory knows it, yet ``stack render``, ``runner list``, ``gc`` and ``image list`` work
on it through the real CLI, and it passes the contract suite like the real clouds.

Its "API" is a directory of JSON files (``$CMLINFRA_FAKECLOUD_DIR``, see ``api.py``); its
Terraform module (``module/``) needs no provider. Like every cloud's registry entry, this module
imports nothing but the stdlib and ``cmlinfra.clouds.base``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.info import Capabilities, CloudInfo, CloudOption

if TYPE_CHECKING:
    from tests.clouds.contract.fakecloud.cloud import FakeCloud

ZONE = CloudOption(
    "--cloud-fake-zone",
    "Fake: the zone to create the machine in (fz-a … fz-z; default fz-a).",
)
# the way a cloud that is not deleted by a power-off ends a machine: through its own API, with
# what the machine's metadata service tells it (here a stand-in address)
END = 'curl -fsS -X DELETE "http://169.254.169.254/fake/v1/self" || systemctl poweroff'

INFO = CloudInfo(
    name="fake",
    title="Fake",
    summary="the test suite's fake cloud",
    aliases=("fk",),
    capabilities=Capabilities(
        deleted_on_power_off=False,
        prices_known=True,
        has_inventory=True,
        images=True,
        watchdog_end=END,
    ),
    options=(ZONE,),
)


def make_cloud() -> FakeCloud:
    from tests.clouds.contract.fakecloud.cloud import FakeCloud

    return FakeCloud()
