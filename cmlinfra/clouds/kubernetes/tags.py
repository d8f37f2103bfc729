"""Kubernetes' half of cmlinfra's labels, defined once. Every object a stack makes (the Job,
its pod, the ServiceAccount, the NetworkPolicy, the registration Secret) carries them: the
inventory and ``gc`` find cmlinfra's objects by ``STACK_LABEL`` alone, through the API."""

from __future__ import annotations

from cmlinfra.clouds.tags import ROLE_KEY

STACK_LABEL = "cmlinfra.dev/stack"  # the runner / stack name
EXPIRES_LABEL = "cmlinfra.dev/expires"  # epoch seconds ("" when the stack never expires)
ROLE_LABEL = ROLE_KEY  # runner | stack | image-builder (cmlinfra.clouds.tags)
MANAGED_BY = ("app.kubernetes.io/managed-by", "cmlinfra")
COMPONENT = "app.kubernetes.io/component"  # job | registration
SECRET_MOUNT = "/etc/cmlinfra/secrets"  # where the pod sees the registration Secret
