"""Google Cloud's half of cmlinfra's tags, defined once: the label keys the stacks set (the
provider's ``default_labels`` and terraform/modules/gcp/gpu-runner) and the inventory, the image
store and gc read. Label values allow only ``[a-z0-9_-]`` (63 at most): the expiry is Unix
seconds, not RFC 3339. The role travels as the ``cmlinfra-role`` label
(``cmlinfra.clouds.tags``)."""

from __future__ import annotations

import re

from cmlinfra.clouds.tags import ROLE_KEY

STACK_LABEL = "cmlinfra-stack"  # the runner / stack name: gc's handle on a machine
EXPIRES_LABEL = "cmlinfra-expires"  # Unix seconds; gc deletes a record-less machine after it
REPO_LABEL = "cmlinfra-repo"  # the repository that launched it, folded to the label alphabet
ROLE_LABEL = ROLE_KEY  # runner | stack | image-builder
MANAGED_BY = ("managed-by", "cmlinfra")
IMAGE_LABEL = "cmlinfra-image"  # "true" on every image cmlinfra published
IMAGE_FAMILY = "cmlinfra-gpu"  # the family `image bake --cloud gcp` publishes into


def label_value(value: str) -> str:
    """Any text → a valid label value: lowercase; other characters become ``_``; 63 at most."""
    return re.sub(r"[^a-z0-9_-]", "_", value.lower())[:63]


def image_labels(properties: dict[str, str]) -> dict[str, str]:
    """A bake's ``cmlinfra.*`` properties as image labels (``cmlinfra-*``, values folded)."""
    return {
        label_value(k.replace("cmlinfra.", "cmlinfra-", 1).replace(".", "-")): label_value(v)
        for k, v in properties.items()
    }
