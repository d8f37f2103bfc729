"""AWS: CML's ``--cloud aws`` on EC2, built from terraform/modules/aws/{network,gpu-runner}.

The cloud registry imports this package only when ``--cloud aws`` is asked for; boto3 is
imported later still, inside the functions that call AWS.
"""

from __future__ import annotations

from cmlinfra.clouds.aws.cloud import AwsCloud


def make_cloud() -> AwsCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("aws")``)."""
    return AwsCloud()


__all__ = ["AwsCloud", "make_cloud"]
