"""The Kubernetes cloud behind the :class:`~cmlinfra.clouds.base.Cloud` Protocol.

A machine is the single pod of a Job in a namespace (``--cloud-region`` names the namespace;
default: the kubeconfig context's). ``validate`` needs no cluster; ``resolve`` asks the API
whether the namespace exists and whether this user may create Jobs and Secrets and exec into
pods, before Terraform creates anything. After ``apply``, ``address`` waits for the pod to run
and turns a scheduler's refusal into a one-line capacity error (``pods.py``); ``connect`` gives
the exec :class:`~.transport.PodTransport` — there is no SSH, so no host key either: the API's
TLS (the kubeconfig's CA) is the trusted channel.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from cmlinfra.clouds import validate
from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    ImageStore,
    Inventory,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.kubernetes import INFO, catalog, errors, options
from cmlinfra.clouds.kubernetes import stack as stack_builder
from cmlinfra.clouds.kubernetes.options import DNS_SUBDOMAIN
from cmlinfra.errors import CmlinfraError, UsageError

GPU_IMAGE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"  # bash, tar; the node gives the driver
CPU_IMAGE = "ubuntu:24.04"
MAX_NAME = 52  # the Job controller appends "-xxxxx" to name the pod (63 at most)


class KubernetesCloud:
    name = INFO.name
    info: CloudInfo = INFO

    def __init__(self, api: Any = None) -> None:
        self._api = api

    @property
    def api(self) -> Any:
        if self._api is None:
            from cmlinfra.clouds.kubernetes.api import Api

            self._api = Api()
        return self._api

    # -- offline ----------------------------------------------------------------------------

    def validate(self, request: MachineRequest) -> dict[str, Any]:
        """Every check that needs no cluster, so a typo is a typo even when it is down."""
        validate.stack_name(request.name)
        if len(request.name) > MAX_NAME:
            raise UsageError(
                f"runner name {request.name!r} is too long for a Job",
                f"use at most {MAX_NAME} characters (the pod's name adds a suffix)",
            )
        validate.labels(request.metadata)
        size = catalog.pod_size(request.cloud_type, request.gpu)
        disk = catalog.hdd_size(request.hdd_size_gb)
        validate.unsupported("kubernetes", "--cloud-spot", request.spot)
        validate.unsupported("kubernetes", "--cloud-spot-price", request.spot_price)
        validate.unsupported("kubernetes", "--host", request.host)
        validate.unsupported("kubernetes", "--ssh-cidr", request.ssh_cidr)
        namespace = (request.region or "").strip()
        if namespace and (not DNS_SUBDOMAIN.match(namespace) or "." in namespace):
            raise UsageError(
                f"--cloud-region {namespace!r} is not a namespace name",
                "on kubernetes --cloud-region is the namespace: lowercase letters, digits, '-'",
            )
        account = (request.permission_set or "").strip()
        if account and not DNS_SUBDOMAIN.match(account):
            raise UsageError(
                f"--cloud-permission-set {account!r} is not a ServiceAccount name",
                "give the name of a ServiceAccount in the namespace",
            )
        if request.max_ttl_seconds is not None and request.max_ttl_seconds < 60:
            raise UsageError(
                "--max-ttl must be at least 60 seconds on kubernetes", "give e.g. --max-ttl 3600"
            )
        return {
            "size": size,
            "disk": disk,
            "namespace": namespace,
            "node_selector": options.node_selector(request, size.accelerator),
            "tolerations": [t.to_manifest() for t in options.tolerations(request)],
            "runtime_class": options.runtime_class(request),
            "service_account": account or None,
        }

    # -- the API ----------------------------------------------------------------------------

    def check_reachable(self) -> None:
        from kubernetes import client

        api = self.api
        api.call("reaching the API", client.VersionApi(api.connection.client).get_code)

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        checked = self.validate(request)
        api = self.api
        namespace = checked["namespace"] or api.connection.namespace
        self._check_namespace(namespace)
        for verb, resource, group in (
            ("create", "jobs", "batch"),
            ("create", "secrets", ""),
            ("create", "pods/exec", ""),
        ):
            if not api.can_i(namespace, verb, resource, group):
                raise CmlinfraError(
                    f"the kubeconfig's user ({api.connection.source}) may not {verb} {resource} "
                    f"in namespace {namespace}",
                    "bind it a Role that allows jobs, secrets, pods and pods/exec there",
                )
        if checked["service_account"]:
            found = api.call(
                "reading the service account",
                api.core.read_namespaced_service_account,
                checked["service_account"],
                namespace,
                missing_ok=True,
            )
            if found is None:
                raise UsageError(
                    f"--cloud-permission-set: no ServiceAccount {checked['service_account']!r} "
                    f"in namespace {namespace}",
                    "create it, or drop the option (the runner then gets one without API rights)",
                )
        size: catalog.PodSize = checked["size"]
        image = request.image or (GPU_IMAGE if size.gpu_count else CPU_IMAGE)
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type=size.name,
            region=namespace,
            gpu=size.gpu,
            gpu_count=size.gpu_count,
            vcpus=size.cpu,
            memory_gib=size.memory_gib,
            hourly_price=None,  # the cluster's own nodes
            image=image,
            extra={
                "memory": size.memory,
                "ephemeral_storage": f"{checked['disk']}G" if checked["disk"] else "",
                "node_selector": checked["node_selector"],
                "tolerations": checked["tolerations"],
                "runtime_class": checked["runtime_class"],
                "service_account": checked["service_account"],
                "server": api.connection.server,
            },
        )

    def _check_namespace(self, namespace: str) -> None:
        """A missing namespace is a typo; a user who may not read namespaces is told by
        Terraform later, in the API's words."""
        from kubernetes.client.exceptions import ApiException

        try:
            self.api.core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise UsageError(
                    f"namespace {namespace!r} does not exist",
                    "on kubernetes --cloud-region names the namespace: create it or pick another",
                ) from None
            if exc.status not in (401, 403):
                self.api.call("reading the namespace", self.api.core.read_namespace, namespace)

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        return stack_builder.build(machine)  # no SSH: the public key is not needed

    def terraform_environment(self) -> dict[str, str]:
        """Where Terraform's provider finds the kubeconfig (a path and a context)."""
        return dict(self.api.connection.terraform_environment())

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """Wait for the Job's pod to run; a pod no node can take is a capacity error."""
        from cmlinfra.clouds.kubernetes.pods import wait_running
        from cmlinfra.ui import progress

        try:
            namespace, job = str(outputs["namespace"]), str(outputs["job_name"])
        except KeyError as exc:
            raise CmlinfraError(
                f"the kubernetes stack's outputs lack {exc}", "re-apply it with this cmlinfra"
            ) from None
        pod = wait_running(self.api, namespace, job, say=progress)
        port = urlparse(self.api.connection.server).port or 443
        return MachineAddress(
            host=str(pod.metadata.name),
            port=port,  # the API server's: everything goes through it
            user="root",
            instance_id=f"{namespace}/{job}",
        )

    def connect(self, address: MachineAddress, *, wait: float = 300.0, say: Any = None) -> Any:
        """The pod as a Transport (the API's exec), with its Job as the Secrets' owner."""
        from cmlinfra.clouds.kubernetes.tags import STACK_LABEL
        from cmlinfra.clouds.kubernetes.transport import SECRET_WAIT_ENV, PodTransport

        namespace, job_name = address.instance_id.split("/", 1)
        api = self.api
        job = api.call(
            f"reading job {job_name}", api.batch.read_namespaced_job, job_name, namespace
        )
        labels = {
            k: v
            for k, v in (job.metadata.labels or {}).items()
            if k.startswith("cmlinfra") or k == STACK_LABEL
        }
        return PodTransport(
            api,
            namespace,
            address.host,
            job={
                "name": job_name,
                "uid": job.metadata.uid,
                "labels": labels,
                "secret": f"{job_name}-registration",
            },
            secret_wait=float(os.environ.get(SECRET_WAIT_ENV, "180")),
        )

    def inventory(self, scope: SweepScope) -> Inventory:
        from cmlinfra.clouds.kubernetes.inventory import KubernetesInventory

        namespaces = scope.regions or scope.record_regions or (self.api.connection.namespace,)
        return KubernetesInventory(self.api, tuple(dict.fromkeys(namespaces)))

    def images(self, region: str | None = None) -> ImageStore | None:
        return None  # container images are built and pushed with the user's own tools

    def cost_note(self, machine: ResolvedMachine) -> str:
        gpus = f" + {machine.gpu_count} {catalog.GPU_RESOURCE}" if machine.gpu_count else ""
        return (
            f"{machine.vcpus} cores, {machine.extra['memory']} memory{gpus} on your cluster's "
            "nodes: no price is known"
        )

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return errors.classify_error(error)
