"""AWS's half of cmlinfra's tags, defined once: the EC2 tag keys the stacks set (through the
provider's ``default_tags`` and terraform/modules/aws/gpu-runner) and the inventory, the image
store and gc read. The role travels as the ``cmlinfra-role`` tag (``cmlinfra.clouds.tags``)."""

from __future__ import annotations

from cmlinfra.clouds.tags import ROLE_KEY

STACK_TAG = "cmlinfra:stack"  # the runner / stack name: gc's handle on a machine
EXPIRES_TAG = "cmlinfra:expires"  # RFC 3339; gc deletes a record-less machine after it
REPO_TAG = "cmlinfra:repo"  # the repository that launched it (for a human in the console)
ROLE_TAG = ROLE_KEY  # runner | stack | image-builder: --cloud-metadata, stored as is
MANAGED_BY = ("managed-by", "cmlinfra")
IMAGE_TAG = "cmlinfra:image"  # "true" on every AMI (and its snapshots) cmlinfra published


def image_tags(properties: dict[str, str]) -> dict[str, str]:
    """A bake's ``cmlinfra.*`` properties as EC2 tags (``cmlinfra:*``, the tag convention)."""
    return {k.replace("cmlinfra.", "cmlinfra:", 1): v for k, v in properties.items()}
