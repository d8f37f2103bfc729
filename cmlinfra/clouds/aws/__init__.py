"""AWS: CML's ``--cloud aws`` on EC2, built from terraform/modules/aws/{network,gpu-runner}.

This module is the registry entry: ``INFO`` (read for ``--help``, so it imports nothing but
the stdlib) and ``make_cloud()``, which loads the cloud. boto3 is imported later still, inside
the functions that call AWS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.aws.options import OPTIONS
from cmlinfra.clouds.info import Capabilities, CloudInfo

if TYPE_CHECKING:
    from cmlinfra.clouds.aws.cloud import AwsCloud

INFO = CloudInfo(
    name="aws",
    title="AWS",
    summary="EC2 instances",
    capabilities=Capabilities(
        deleted_on_power_off=True,  # instance_initiated_shutdown_behavior = "terminate"
        spot=True,
        gpus=True,
        prices_known=True,
        has_inventory=True,
        images=True,
    ),
    options=OPTIONS,
)


def make_cloud() -> AwsCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("aws")``)."""
    from cmlinfra.clouds.aws.cloud import AwsCloud

    return AwsCloud()


__all__ = ["INFO", "make_cloud"]
