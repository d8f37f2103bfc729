"""LXD's half of cmlinfra's labels, defined once. A container's free-form configuration lives
under ``user.``: terraform/modules/lxd/runner writes the stack's labels there (``user.<key>``)
and its expiry as ``user.cmlinfra.expires``; the inventory and gc read them back. The role is the
``cmlinfra-role`` label (``cmlinfra.clouds.tags``), so ``user.cmlinfra-role``."""

from __future__ import annotations

from cmlinfra.clouds.tags import ROLE_KEY

USER = "user."  # LXD's key space for free-form instance configuration
STACK_LABEL = "cmlinfra.stack"  # a label the stack sets: the runner / stack name
OWNER_LABEL = "cmlinfra.owner"  # the local user that created it
STACK_KEY = USER + STACK_LABEL
EXPIRES_KEY = USER + "cmlinfra.expires"  # epoch seconds, from the module's var.expires
ROLE_CONFIG_KEY = USER + ROLE_KEY
IMAGE_PROPERTY = "cmlinfra.image"  # "true" on every image cmlinfra published
