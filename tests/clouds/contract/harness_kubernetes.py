"""The Kubernetes cloud's harness: the API is the local fake (tests/kube_server, validated
against the strict schemas of 1.25-1.37); machines are planted as Jobs carrying the labels the
gpu-runner module sets. The Kubernetes provider cannot be installed here: the stack is checked
against the module's interface, and tests/clouds/kubernetes/ maps the module onto manifests.

Error texts are the API server's and the scheduler's own wording (sources quoted)."""

from __future__ import annotations

import secrets

import pytest

from cmlinfra.clouds.base import ErrorKind, MachineRequest, SweepScope
from cmlinfra.clouds.kubernetes.options import NODE_SELECTOR
from tests.clouds.contract.kit import ErrorSample, Harness
from tests.fixtures.moto import free_port
from tests.kube_server import KubeServer

K8S = "https://github.com/kubernetes/kubernetes"
ERRORS = [
    ErrorSample(
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are "
        "available: 3 No preemption victims found for incoming pod.",
        ErrorKind.CAPACITY,
        f"{K8S}/issues/113476 (kube-scheduler FailedScheduling event)",
    ),
    ErrorSample(
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 "
        "node(s) had untolerated taint {nvidia.com/gpu: present}.",
        ErrorKind.CAPACITY,
        f"{K8S}/issues/119130 (kube-scheduler FailedScheduling event)",
    ),
    ErrorSample(
        'Error creating: pods "train-x7k2p" is forbidden: exceeded quota: gpu-quota, requested: '
        "requests.nvidia.com/gpu=2, used: requests.nvidia.com/gpu=0, limited: "
        "requests.nvidia.com/gpu=1",
        ErrorKind.QUOTA,
        "kube-apiserver ResourceQuota admission (plugin/pkg/admission/resourcequota), as the "
        "fake's job controller reports it (tests/clouds/kubernetes/test_cluster.py)",
    ),
    ErrorSample(
        "Kubernetes API: creating secret x failed: Forbidden (403): secrets is forbidden: User "
        '"system:serviceaccount:ci:runner" cannot create resource "secrets" in API group "" in '
        'the namespace "ci"',
        ErrorKind.AUTH,
        "kube-apiserver RBAC denial, through cmlinfra/clouds/kubernetes/api.py api_message()",
    ),
    ErrorSample(
        "Kubernetes API: reaching the API failed: Unauthorized (401): Unauthorized",
        ErrorKind.AUTH,
        "kube-apiserver with an expired token (the fake's answer to a wrong bearer token)",
    ),
    ErrorSample(
        'Error: Failed to create Job! API error: Job.batch "x" is invalid: '
        "spec.template.spec.containers[0].image: Required value",
        ErrorKind.BAD_REQUEST,
        "kube-apiserver validation (422 Invalid), as terraform-provider-iterative wraps it",
    ),
    ErrorSample(
        "Kubernetes API: listing jobs in ci failed: TooManyRequests (429): the server has "
        "received too many requests and has asked us to try again later",
        ErrorKind.TRANSIENT,
        "kube-apiserver API Priority and Fairness rejection (429)",
    ),
    ErrorSample(
        "etcdserver: request timed out",
        ErrorKind.TRANSIENT,
        f"{K8S}/issues/105811 (kube-apiserver under etcd load)",
    ),
]


@pytest.fixture(scope="module")
def kubernetes_harness(kube_server: KubeServer, kube_env: dict[str, str]) -> Harness:
    from cmlinfra.clouds.kubernetes import connection

    connection._load.cache_clear()
    prefix = f"cmlk-{secrets.token_hex(2)}-"

    def plant(stack: str, role: str, expires: float | None) -> str:
        labels = {"cmlinfra.dev/stack": stack, "cmlinfra-role": role}
        if expires is not None:
            labels["cmlinfra.dev/expires"] = str(int(expires))
        job = {
            "metadata": {"name": stack, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "runner",
                                "image": "ubuntu:24.04",
                                "command": [
                                    "/bin/sh",
                                    "-c",
                                    "trap 'exit 0' TERM; while :; do sleep 1; done",
                                ],
                                "resources": {"limits": {"cpu": "1", "memory": "500M"}},
                            }
                        ],
                    },
                },
            },
        }
        status, _ = kube_server.handle(
            "POST",
            "/apis/batch/v1/namespaces/ci/jobs",
            {},
            {"apiVersion": "batch/v1", "kind": "Job", **job},
        )
        assert status == 201
        return f"ci/job/{stack}"

    def address_case() -> tuple[dict[str, object], tuple[str, ...]]:
        """No SSH: the API's TLS is the trusted channel, so there are no host keys."""
        stack = f"{prefix}addr"
        plant(stack, "stack", None)
        return {"namespace": "ci", "job_name": stack}, ()

    def request(**kw: object) -> MachineRequest:
        base = {"name": f"{prefix}render", "region": "ci", "cloud_type": "m", "gpu": "t4"}
        return MachineRequest(**{**base, **kw})  # type: ignore[arg-type]

    return Harness(
        cloud="kubernetes",
        prefix=prefix,
        request=request(),
        bad=[
            (request(cloud_type="mm"), "--cloud-type 'mm' is not a Kubernetes size"),
            (request(region="No_Such"), "--cloud-region 'No_Such' is not a namespace name"),
            (request(options={NODE_SELECTOR.flag: "gpu"}), f"{NODE_SELECTOR.flag} 'gpu' is not"),
            (request(spot=True), "--cloud-spot is not supported by the kubernetes cloud"),
            (request(hdd_size_gb=0), "--cloud-hdd-size 0 is out of range"),
        ],
        inject=lambda text: request(name=f"{prefix}inject", metadata={"note": text}),
        errors=ERRORS,
        plant=plant,
        scope=SweepScope(regions=("ci",)),
        terraform_validates=False,  # no Kubernetes provider binary here
        address_case=address_case,
        env=kube_env,
        down={
            "KUBECONFIG": "",
            "KUBERNETES_CONFIGURATION": kube_server.kubeconfig("ci").replace(
                kube_server.url, f"https://127.0.0.1:{free_port()}"
            ),
        },
    )
