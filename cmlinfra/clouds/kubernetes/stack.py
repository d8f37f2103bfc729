"""A resolved pod → the StackSpec of terraform/modules/kubernetes/gpu-runner.

Pure data: every look-up already happened in ``resolve()``. The provider block is empty on
purpose: the provider is pointed at the kubeconfig through the environment
(``KubernetesCloud.terraform_environment``), so no path of this machine and no credential is
written into the configuration that the registry keeps for a later ``destroy``.
"""

from __future__ import annotations

from typing import Any

from cmlinfra.clouds.base import ResolvedMachine, StackSpec
from cmlinfra.clouds.kubernetes.tags import EXPIRES_LABEL, ROLE_LABEL
from cmlinfra.clouds.modules import module_path
from cmlinfra.clouds.tags import ROLE_KEY

PROVIDER = {"source": "hashicorp/kubernetes", "version": ">= 2.23, < 4.0"}
OUTPUTS = (
    "address",
    "instance_id",
    "namespace",
    "job_name",
    "job_uid",
    "secret_name",
    "service_account_name",
)
DEFAULT_DEADLINE = 24 * 3600  # the Job's deadline without --max-ttl: the backstop of backstops


def variables(machine: ResolvedMachine) -> dict[str, Any]:
    """The module's variables for ``machine`` (what the manifest test maps field by field)."""
    request, extra = machine.request, machine.extra
    expires = extra.get("expires")
    labels = {EXPIRES_LABEL: str(int(expires)) if expires else ""}
    role = request.metadata.get(ROLE_KEY)
    if role:
        labels[ROLE_LABEL] = role
    found: dict[str, Any] = {
        "name": request.name,
        "namespace": machine.region,
        "image": machine.image,
        "cpu": str(machine.vcpus),
        "memory": extra["memory"],
        "gpu_count": machine.gpu_count,
        "node_selector": extra["node_selector"],
        "tolerations": extra["tolerations"],
        "active_deadline_seconds": request.max_ttl_seconds or DEFAULT_DEADLINE,
        "ttl_seconds_after_finished": 300,
        "labels": labels,
        "annotations": {k: v for k, v in request.metadata.items() if k != ROLE_KEY},
    }
    if extra.get("ephemeral_storage"):
        found["ephemeral_storage"] = extra["ephemeral_storage"]
    if extra.get("runtime_class"):
        found["runtime_class_name"] = extra["runtime_class"]
    if extra.get("service_account"):
        found["service_account_name"] = extra["service_account"]
    return found


def build(machine: ResolvedMachine) -> StackSpec:
    return StackSpec(
        name=machine.request.name,
        cloud=machine.cloud,
        modules={"runner": (module_path("kubernetes", "gpu-runner"), variables(machine))},
        providers={"kubernetes": {}},
        required_providers={"kubernetes": dict(PROVIDER)},
        outputs={name: f"module.runner.{name}" for name in OUTPUTS},
    )
