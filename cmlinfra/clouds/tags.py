"""Who made a machine, and until when it may live: the cloud-neutral half of cmlinfra's tags.

Every machine carries a *role* in its ``--cloud-metadata`` (so each cloud stores it the way it
stores any label: an EC2 tag ``cmlinfra-role``, an LXD ``user.cmlinfra-role`` key):
``runner`` (launch/exec, which write a registry record first), ``stack`` (``stack apply``) or
``image-builder`` (``image bake``). Only a runner's machine without a record is garbage; the
others belong to no registry, so ``gc`` deletes them only once their expiry has passed.

The keys that carry the stack name and the expiry differ per cloud (tag syntax): each cloud
defines them once, in its own ``tags.py``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest

ROLE_KEY = "cmlinfra-role"  # a --cloud-metadata key, stored by each cloud like any label
RUNNER_ROLE = "runner"
STACK_ROLE = "stack"
IMAGE_BUILDER_ROLE = "image-builder"
ROLES = (RUNNER_ROLE, STACK_ROLE, IMAGE_BUILDER_ROLE)


def with_role(request: MachineRequest, role: str) -> MachineRequest:
    """``request`` with its machine tagged as made for ``role``."""
    return dataclasses.replace(request, metadata={**request.metadata, ROLE_KEY: role})


def parse_expiry(value: str | None) -> float | None:
    """Unix seconds or RFC 3339 (``2026-11-27T12:00:00Z``) → epoch; junk → None."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
