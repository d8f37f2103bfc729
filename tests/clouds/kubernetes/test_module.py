"""terraform/modules/kubernetes/gpu-runner against the provider and the API, without either:
every argument and nested block checked against the provider schema snapshot (cdktn bindings
of hashicorp/kubernetes 3.4.0, nested ``index-structs`` included); every field it writes
mapped onto the manifest the provider sends, and that manifest valid in the strict schemas of
every Kubernetes version cmlinfra claims (1.25-1.37)."""

from __future__ import annotations

import subprocess

import pytest

from cmlinfra.clouds.base import MachineRequest
from cmlinfra.clouds.kubernetes import stack
from cmlinfra.clouds.kubernetes.cloud import KubernetesCloud
from tests.clouds.hclschema import check_module, check_text, load_snapshot
from tests.clouds.kubernetes.manifests import (
    DEFAULT_COMMAND,
    MODULE,
    manifest_fields,
    module_fields,
    objects,
)
from tests.kube_server.schemas import VERSIONS, problems


def test_the_module_fits_the_provider_schema() -> None:
    assert check_module(MODULE, load_snapshot("kubernetes")) == []


def test_a_misspelt_nested_argument_is_caught() -> None:
    """The snapshot really holds the job's nested pod spec (index-structs), four levels down."""
    text = (MODULE / "main.tf").read_text()
    assert "allow_privilege_escalation = false" in text
    bad = text.replace("allow_privilege_escalation = false", "allow_privilege_escalaton = false")
    found = check_text(bad + (MODULE / "variables.tf").read_text(), load_snapshot("kubernetes"))
    assert any("security_context.allow_privilege_escalaton: unknown argument" in p for p in found)


def test_the_default_command_hands_the_container_to_the_supervisor() -> None:
    """``runner launch`` installs its supervisor where the pod's main process looks for it
    (``CONTAINER_INIT``); the manifests the tests create use the module's own default."""
    import hcl2

    from cmlinfra.clouds.info import CONTAINER_INIT

    variables = hcl2.loads((MODULE / "variables.tf").read_text())["variable"]
    (default,) = [v['"command"']["default"] for v in variables if '"command"' in v]
    command = [part.removeprefix('"').removesuffix('"') for part in default]  # HCL strings
    assert command == DEFAULT_COMMAND
    assert f"exec {CONTAINER_INIT};" in command[-1] and "trap 'exit 0' TERM" in command[-1]


def test_terraform_fmt() -> None:
    done = subprocess.run(["terraform", "fmt", "-check", "-diff", str(MODULE)], capture_output=True)
    assert done.returncode == 0, done.stdout.decode()


def _variables(**extra: object) -> dict[str, object]:
    cloud = KubernetesCloud()
    request = MachineRequest(
        name="cml-k8s-1",
        cloud_type="m",
        gpu="t4",
        hdd_size_gb=35,
        metadata={"team": "vision", "cmlinfra-role": "runner"},
        max_ttl_seconds=7200,
        options={
            "--cloud-kubernetes-toleration": "nvidia.com/gpu=present:NoSchedule,spot:NoExecute",
            "--cloud-kubernetes-runtime-class": "nvidia",
        },
    )
    checked = cloud.validate(request)
    from cmlinfra.clouds.base import ResolvedMachine

    size = checked["size"]
    machine = ResolvedMachine(
        request=request,
        cloud="kubernetes",
        instance_type=size.name,
        region="ci",
        gpu=size.gpu,
        gpu_count=size.gpu_count,
        vcpus=size.cpu,
        memory_gib=size.memory_gib,
        hourly_price=None,
        image="nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04",
        extra={
            "memory": size.memory,
            "ephemeral_storage": "35G",
            "expires": 1900000000.0,
            "node_selector": checked["node_selector"],
            "tolerations": checked["tolerations"],
            "runtime_class": "nvidia",
            "service_account": None,
        },
    )
    return {**stack.variables(machine), **extra}


def test_every_field_the_module_writes_is_in_the_manifest() -> None:
    """The module's blocks and arguments, mapped to API field names, are exactly the fields of
    the objects the tests build from the same variables (no field invented on either side)."""
    fields = module_fields()
    made = objects(_variables())
    assert set(fields) == set(made)
    for rtype, paths in fields.items():
        assert paths == manifest_fields(made[rtype]), rtype


@pytest.mark.parametrize(
    "kind", ["kubernetes_job_v1", "kubernetes_network_policy_v1", "kubernetes_service_account_v1"]
)
def test_the_manifests_are_valid_in_every_claimed_version(kind: str) -> None:
    obj = objects(_variables())[kind]
    assert problems(obj, obj["kind"], obj["apiVersion"]) == []
    assert VERSIONS[0] == "1.25" and VERSIONS[-1] == "1.37"


def test_the_job_asks_what_the_size_says() -> None:
    job = objects(_variables())["kubernetes_job_v1"]
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 7200
    assert spec["ttlSecondsAfterFinished"] == 300
    assert container["resources"]["limits"] == {
        "cpu": "4",
        "memory": "16000M",
        "nvidia.com/gpu": "1",
        "ephemeral-storage": "35G",
    }  # m+t4 in TPI's table: 4 cores, 16 GB, one GPU
    assert "nvidia.com/gpu" not in container["resources"]["requests"]
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"accelerator": "nvidia-tesla-t4"}  # CML's accelerator=infer
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
    ]
    labels = job["metadata"]["labels"]
    assert labels["cmlinfra.dev/stack"] == "cml-k8s-1" and labels["cmlinfra-role"] == "runner"
    assert labels["cmlinfra.dev/expires"] == "1900000000"
    assert job["metadata"]["annotations"] == {"team": "vision"}
