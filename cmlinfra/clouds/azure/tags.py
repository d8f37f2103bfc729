"""Azure's half of cmlinfra's tags, defined once: the tag names the stacks put on the runner's
resource group and everything in it (stack.py, terraform/modules/azure/gpu-runner), and that
the inventory, the image store and gc read. The role travels as ``cmlinfra-role``
(``cmlinfra.clouds.tags``), like any ``--cloud-metadata`` tag."""

from __future__ import annotations

from cmlinfra.clouds.tags import ROLE_KEY

STACK_TAG = "cmlinfra:stack"  # the runner / stack name: gc's handle on a group
EXPIRES_TAG = "cmlinfra:expires"  # RFC 3339; gc deletes a record-less group after it
REPO_TAG = "cmlinfra:repo"  # the repository that launched it (for a human in the portal)
ROLE_TAG = ROLE_KEY  # runner | stack | image-builder
MANAGED_BY = ("managed-by", "cmlinfra")
IMAGE_TAG = "cmlinfra:image"  # the name, on every managed image cmlinfra published


def image_tags(properties: dict[str, str]) -> dict[str, str]:
    """A bake's ``cmlinfra.*`` properties as Azure tags (``cmlinfra:*``), values cut to
    Azure's 256 characters."""
    return {k.replace("cmlinfra.", "cmlinfra:", 1): v[:256] for k, v in properties.items()}
