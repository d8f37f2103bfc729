"""``runner launch --cloud kubernetes`` end to end against the API fake, as far as Terraform
allows: the hashicorp/kubernetes provider binary cannot be installed here, so ``terraform
apply`` is the one step stood in for. The stand-in reads the module variables from the stack
cmlinfra synthesized and creates the objects the module makes from them (the same manifests
test_module.py holds to the module's HCL and the strict schemas) through the Python client, as
the provider would, then hands the outputs to the cloud's own ``address()``. Everything else is
the launcher's real path: checks, record, registration at the fake forge (OpenAPI-validated),
the pod's exec transport, bootstrap, the Secret, the supervisor, ``runner list`` and ``gc``.

The stand-in sets one value the stack would not: ``ttlSecondsAfterFinished`` of 2 s instead of
300, so the Job's collection (and its Secret's) is seen without waiting five minutes. It writes
no Terraform state, so a teardown's ``terraform destroy`` finds nothing to do and the cloud's
inventory deletes what carries the stack's label (Job, pods, Secret; on an expired runner the
ServiceAccount and NetworkPolicy too); on a cluster, ``terraform destroy`` removes those two
after a Job that ended by itself."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.base import MachineRequest
from cmlinfra.clouds.kubernetes.api import Api
from cmlinfra.runner.agents import STANDIN_VARIABLE
from cmlinfra.runner.launch import LaunchOptions, launch
from cmlinfra.runner.listing import list_runners
from cmlinfra.runner.store import open_store
from cmlinfra.runner.sweep import run_gc
from cmlinfra.runner.watchdog import LIB
from tests.clouds.kubernetes.manifests import objects
from tests.clouds.kubernetes.test_cluster import deadline_wait, remove
from tests.kube_server import KubeServer


def provider_stand_in(kube: KubeServer, created: list[str]) -> Any:
    """``service.apply`` with the objects made the way the provider would make them."""
    from kubernetes import client

    def apply(prepared: Any, **_: Any) -> Any:
        stack = json.loads((prepared.stack.workdir / "stack.tf.json").read_text())
        variables = {
            k: v for k, v in stack["module"]["runner"].items() if k not in ("source", "//")
        }
        made = objects({**variables, "ttl_seconds_after_finished": 2})
        api = Api()
        namespace = variables["namespace"]
        created.append(variables["name"])
        api.core.create_namespaced_service_account(namespace, made["kubernetes_service_account_v1"])
        client.NetworkingV1Api(api.connection.client).create_namespaced_network_policy(
            namespace, made["kubernetes_network_policy_v1"]
        )
        job = api.batch.create_namespaced_job(namespace, made["kubernetes_job_v1"])
        outputs = {
            "namespace": namespace,
            "job_name": job.metadata.name,
            "job_uid": job.metadata.uid,
            "instance_id": f"{namespace}/{job.metadata.name}",
            "address": f"{namespace}/{job.metadata.name}",
            "secret_name": f"{job.metadata.name}-registration",
            "service_account_name": job.metadata.name,
        }
        return prepared.cloud.address(outputs)

    return apply


@pytest.fixture
def launcher(kube: KubeServer, forge: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from cmlinfra.stack import service

    forge.state.add_repo("github", "acme/ml")
    monkeypatch.setenv("CMLINFRA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(STANDIN_VARIABLE, "1")
    created: list[str] = []
    monkeypatch.setattr(service, "apply", provider_stand_in(kube, created))
    prefix = f"kl-{secrets.token_hex(2)}-"
    state = str(tmp_path / "state")
    forge_spec = ("github", f"{forge.url}/acme/ml", forge.token)

    def start(suffix: str, **kw: Any) -> Any:
        opts = LaunchOptions(
            cloud="kubernetes",
            request=MachineRequest(name=f"{prefix}{suffix}", region="ci", cloud_type="s"),
            driver=forge_spec[0],
            repo=forge_spec[1],
            token=forge_spec[2],
            state=state,
            watchdog_interval=1,
            **kw,
        )
        return launch(opts)

    def gc() -> dict[str, Any]:
        report = run_gc(
            state=state,
            clouds=["kubernetes"],
            regions=[],
            prefix=prefix,
            lock_max_age=3600,
            forge=forge_spec,
            fix=True,
        )
        return report.to_dict()

    start.gc = gc  # type: ignore[attr-defined]
    start.state = state  # type: ignore[attr-defined]
    yield start
    for name in created:
        remove(name)


def runners(forge: Any) -> list[str]:
    return sorted(r.name for r in forge.state.repo("github", "acme/ml").runners.values())


def test_a_single_runner_serves_one_job_then_its_pod_secret_and_runner_go(
    launcher: Any, kube: KubeServer, forge: Any
) -> None:
    result = launcher("one", single=True, idle_timeout=3600)
    record, name = result.record, result.record.name
    assert set(result.timings) >= {"apply", "connect", "bootstrap", "registration", "watchdog"}
    assert (record.phase, record.cloud, record.region) == ("ready", "kubernetes", "ci")
    assert record.instance_id == f"ci/{name}" and record.host.startswith(f"{name}-")
    assert runners(forge) == [name]
    (row,) = list_runners(open_store(launcher.state))
    assert (row["name"], row["cloud"], row["region"], row["phase"]) == (
        name,
        "kubernetes",
        "ci",
        "ready",
    )

    # the registration material: in the Job's Secret, and nowhere in the Job, its pod or log
    secret = kube.cluster.get("secrets", "ci", f"{name}-registration")
    assert secret is not None
    material = base64.b64decode(secret["data"]["agent.env"]).decode().strip()
    material = material.partition("=")[2].strip('"')
    assert material
    job, pods = kube.cluster.get("jobs", "ci", name), kube.cluster.list("pods", "ci")
    assert material not in json.dumps([job, pods])
    (pod,) = [p["metadata"]["name"] for p in pods if p["metadata"]["labels"]["job-name"] == name]
    assert material not in str(Api().core.read_namespaced_pod_log(pod, "ci"))
    assert not any(material in arg for call in kube.calls for arg in call)

    # PID 1 is the supervisor; the agent runs as its user, the material in its environment
    # only (the transport redacts it from output: grep names files, never prints it)
    transport = pod_transport(name, pod)

    def sh(command: str) -> str:
        done = transport.run(command, timeout=60)
        assert done.exit_code == 0, done.tail
        return "\n".join(done.tail)

    assert "supervisor" in sh("tr '\\0' ' ' </proc/1/cmdline")
    agent = sh("cat /var/lib/cmlinfra/supervisor").removeprefix("running ")
    assert sh(f"stat -c %U /proc/{agent}") == "runner"
    pattern = transport.put_file(material.encode(), "pattern")
    assert sh(f"grep -lF -f {pattern} /proc/{agent}/environ") == f"/proc/{agent}/environ"
    leaks = transport.run(
        f"grep -lsF -f {pattern} /proc/[0-9]*/cmdline /proc/1/environ", timeout=60
    )
    assert leaks.tail == ()
    assert sh("stat -c '%a %U' /etc/cmlinfra/secrets/agent.env") == "400 root"
    log = str(Api().core.read_namespaced_pod_log(pod, "ci"))
    assert f"agent stand-in: registered as {name}" in log  # it found its material

    # one job through the agent's hooks, as the agent's user: the supervisor ends the pod
    for hook in ("job-started.sh", "job-completed.sh"):
        done = transport.run(
            f"setpriv --reuid=runner --regid=runner --init-groups bash {LIB}/{hook}", timeout=60
        )
        assert done.exit_code == 0
    assert deadline_wait(lambda: kube.cluster.get("jobs", "ci", name) is None, 40)
    assert kube.cluster.get("secrets", "ci", f"{name}-registration") is None

    # the sweeper sees the machine gone: unregisters the runner, forgets the record
    report = launcher.gc()
    assert [(f["kind"], f["status"]) for f in report["findings"]] == [("machine-gone", "fixed")]
    assert runners(forge) == [] and open_store(launcher.state).names() == []


def test_gc_ends_an_expired_runner_and_everything_of_its_stack(
    launcher: Any, kube: KubeServer, forge: Any
) -> None:
    record = launcher("late", idle_timeout=3600).record
    name = record.name
    store = open_store(launcher.state)
    record.expires = 1.0  # long past: what a lost launcher leaves for gc
    store.put(record)
    report = launcher.gc()
    assert [(f["kind"], f["status"]) for f in report["findings"]] == [("expired", "fixed")]
    for resource in ("jobs", "pods", "secrets", "serviceaccounts", "networkpolicies"):
        assert [
            o
            for o in kube.cluster.list(resource, "ci")
            if o["metadata"].get("labels", {}).get("cmlinfra.dev/stack") == name
        ] == []
    assert runners(forge) == [] and store.names() == []


def pod_transport(job: str, pod: str) -> Any:
    from cmlinfra.clouds.base import MachineAddress
    from cmlinfra.clouds.kubernetes.cloud import KubernetesCloud

    return KubernetesCloud(Api()).connect(MachineAddress(pod, 443, "root", f"ci/{job}"))


def test_the_cli_launches_until_terraform_and_leaves_nothing(
    kube: KubeServer, kube_env: dict[str, str], forge: Any, tmp_path: Path
) -> None:
    """The real CLI, nothing stood in for: the checks pass (forge, namespace, RBAC), the stack
    is synthesized, and ``terraform init`` is where it stops on a machine without the
    provider — one line, everything removed (record, lock, stack, no runner, no object)."""
    from tests.fixtures.cli import run_cli

    forge.state.add_repo("github", "acme/ml")
    state = tmp_path / "state"
    env = {**kube_env, "CMLINFRA_HOME": str(tmp_path / "home"), STANDIN_VARIABLE: "1"}
    done = run_cli(
        *("runner", "launch", "--cloud", "k8s", "--cloud-region", "ci", "--name", "kcli-1"),
        *("--single", "--state", str(state), "--driver", "github"),
        *("--repo", f"{forge.url}/acme/ml", "--token", forge.token),
        env=env,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and lines[-1].startswith("cmlinfra: error: runner kcli-1 failed")
    assert "provider hashicorp/kubernetes" in lines[-1] and "was destroyed" in lines[-1]
    store = open_store(str(state))
    assert (store.names(), store.lock_names(), runners(forge)) == ([], [], [])
    assert list((tmp_path / "home" / "stacks").iterdir()) == []
    assert not [o for o in kube.cluster.list("jobs", "ci") if o["metadata"]["name"] == "kcli-1"]
