"""``--cloud kubernetes`` (also ``k8s``): runners and ``exec`` jobs as pods of a Kubernetes Job,
built from terraform/modules/kubernetes/gpu-runner.

This module is the registry entry: ``INFO`` (read for ``--help``, so it imports nothing but the
stdlib) and ``make_cloud()``. The Kubernetes client is imported later still, inside the
functions that call the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmlinfra.clouds.info import Capabilities, CloudInfo
from cmlinfra.clouds.kubernetes.options import OPTIONS

if TYPE_CHECKING:
    from cmlinfra.clouds.kubernetes.cloud import KubernetesCloud

# The watchdog ends a pod by ending its container's main process — the runner supervisor the
# pod's init handed over to (runner launch), or that init itself; both trap SIGTERM and exit
# 0: the pod succeeds, the Job completes and ttlSecondsAfterFinished collects it (and, through
# its owner reference, the registration Secret).
END_POD = "kill -TERM 1"

INFO = CloudInfo(
    name="kubernetes",
    title="Kubernetes",
    summary="pods of a Job on your cluster",
    aliases=("k8s",),
    capabilities=Capabilities(
        deleted_on_power_off=True,  # a finished Job is collected after ttlSecondsAfterFinished
        gpus=True,  # nvidia.com/gpu in the pod's limits
        prices_known=False,  # the cluster's own nodes: no price the API could tell
        has_inventory=True,
        images=False,  # a container image is built and pushed with the user's own tools
        container=True,  # a pod: no driver, Docker or systemd to install; exec over the API
        watchdog_end=END_POD,
    ),
    options=OPTIONS,
)


def make_cloud() -> KubernetesCloud:
    """The registry's factory (``cmlinfra.clouds.get_cloud("kubernetes")``)."""
    from cmlinfra.clouds.kubernetes.cloud import KubernetesCloud

    return KubernetesCloud()


__all__ = ["INFO", "make_cloud"]
