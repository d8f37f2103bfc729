"""A cloud that lives only in the failover tests (``$CMLINFRA_CLOUD_PLUGINS``): its Terraform
module creates a network and a machine with real ``terraform_data`` resources whose
provisioners write JSON files (its "API", ``$CMLINFRA_FLAKY_DIR``), and each zone can be told
to refuse a machine with a real provider message, a given number of times, after creating it
or not. So a real ``terraform apply`` fails the way a cloud's does — a partial stack, or a
machine the state never learnt of — and the failover's clean-up and inventory check have
something real to clean. Terraform ≥ 1.4 (``terraform_data``): the 1.11.4 on PATH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.info import Capabilities, CloudInfo

if TYPE_CHECKING:
    from tests.stack.flakycloud.cloud import FlakyCloud

INFO = CloudInfo(
    name="flaky",
    title="Flaky",
    summary="the failover tests' cloud",
    capabilities=Capabilities(
        deleted_on_power_off=False, spot=True, prices_known=True, has_inventory=True
    ),
)


def make_cloud() -> FlakyCloud:
    from tests.stack.flakycloud.cloud import FlakyCloud

    return FlakyCloud()
