"""What terraform/modules/kubernetes/gpu-runner creates, as the Kubernetes objects the
provider would send — built from the module's variables the way its HCL builds them — and the
map between the two: every block and argument the module writes (read from its HCL with
python-hcl2) names a manifest field, in the provider's spelling (snake_case, singular blocks).

The Terraform provider cannot run here, so this is how the module is held to the API: each
field it writes must exist in the claimed versions' strict schemas (test_manifests.py), and
these objects (with exactly those fields) are what the tests create in the API fake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

MODULE = Path(__file__).resolve().parents[3] / "terraform/modules/kubernetes/gpu-runner"
SECRET_MOUNT = "/etc/cmlinfra/secrets"
DEFAULT_COMMAND = [
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM INT; echo 'cmlinfra: pod ready'; while :; do if [ -x "
    "/usr/local/lib/cmlinfra/supervisor ]; then exec /usr/local/lib/cmlinfra/supervisor; fi; "
    "sleep 1; done",
]
# the provider's block names that are lists with another name in the API
PLURAL = {
    "container": "containers",
    "toleration": "tolerations",
    "volume": "volumes",
    "volume_mount": "volumeMounts",
    "ingress": "ingress",
    "egress": "egress",
}
# provider attributes that are not API fields
PROVIDER_ONLY = {"wait_for_completion", "timeouts", "count", "dynamic", "for_each", "content"}


def camel(name: str) -> str:
    if name in PLURAL:
        return PLURAL[name]
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def module_fields() -> dict[str, set[str]]:
    """resource type → the manifest paths (``spec.template.spec.containers.resources``) its
    blocks and arguments write, read from the module's HCL."""
    text = "\n".join(p.read_text() for p in sorted(MODULE.glob("*.tf")))
    doc = hcl2.loads(text)
    found: dict[str, set[str]] = {}

    def walk(body: dict[str, Any], prefix: str, into: set[str]) -> None:
        for key, value in body.items():
            if key.startswith("__") or key in PROVIDER_ONLY:
                if key == "dynamic":
                    for item in value:
                        for label, spec in item.items():
                            path = f"{prefix}{camel(label.strip(chr(34)))}"
                            into.add(path)
                            for content in spec.get("content", []):
                                walk(content, f"{path}.", into)
                continue
            path = f"{prefix}{camel(key)}"
            into.add(path)
            blocks = value if isinstance(value, list) else []
            for block in blocks:
                if isinstance(block, dict) and block.get("__is_block__"):
                    walk(block, f"{path}.", into)

    for entry in doc.get("resource", []):
        for rtype, instances in entry.items():
            for body in instances.values():
                walk(body, "", found.setdefault(rtype.strip('"'), set()))
    return found


def manifest_fields(obj: Any, prefix: str = "") -> set[str]:
    """Every field path of a manifest (lists transparent), without ``apiVersion``/``kind``."""
    found: set[str] = set()
    if isinstance(obj, list):
        for item in obj:
            found |= manifest_fields(item, prefix)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if not prefix and key in ("apiVersion", "kind"):
                continue
            path = f"{prefix}{key}"
            found.add(path)
            if isinstance(value, dict | list) and not re.search(
                r"(^|\.)(labels|annotations|nodeSelector|limits|requests|matchLabels|data)$", path
            ):
                found |= manifest_fields(value, f"{path}.")
    return found


def objects(v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ServiceAccount, NetworkPolicy and Job the module makes from variables ``v`` (the
    values cmlinfra's stack.py passes; defaults as in variables.tf)."""
    name, ns = v["name"], v["namespace"]
    base = {
        **v.get("labels", {}),
        "cmlinfra.dev/stack": name,
        "app.kubernetes.io/managed-by": "cmlinfra",
    }
    annotations = v.get("annotations", {})
    storage = v.get("ephemeral_storage", "")
    gpu = v.get("gpu_count", 0)
    limits = {"cpu": v.get("cpu", "8"), "memory": v.get("memory", "32000M")}
    requests = dict(limits)
    if gpu:
        limits[v.get("gpu_resource", "nvidia.com/gpu")] = str(gpu)
    if storage:
        limits["ephemeral-storage"] = requests["ephemeral-storage"] = storage

    def meta(component: str, named: str) -> dict[str, Any]:
        labels = {**base, "app.kubernetes.io/component": component}
        return {"name": named, "namespace": ns, "labels": labels, "annotations": annotations}

    account = v.get("service_account_name") or name
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "nodeSelector": v.get("node_selector", {}),
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {k: t[k] for k in ("key", "operator", "value", "effect") if t.get(k)}
            for t in v.get("tolerations", [])
        ],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "runner",
                "image": v.get("image", "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"),
                "imagePullPolicy": "IfNotPresent",
                "command": v.get("command", DEFAULT_COMMAND),
                "resources": {"limits": limits, "requests": requests},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "privileged": False,
                    "capabilities": {
                        "drop": ["ALL"],
                        "add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"],
                    },
                },
                "volumeMounts": [
                    {"name": "registration", "mountPath": SECRET_MOUNT, "readOnly": True}
                ],
            }
        ],
        "volumes": [
            {
                "name": "registration",
                "secret": {
                    "secretName": v.get("secret_name") or f"{name}-registration",
                    "optional": True,
                    "defaultMode": 0o400,
                },
            }
        ],
    }
    if v.get("runtime_class_name"):
        pod_spec["runtimeClassName"] = v["runtime_class_name"]
    made = {
        "kubernetes_network_policy_v1": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("network", f"{name}-deny-ingress"),
            "spec": {
                "podSelector": {"matchLabels": {"cmlinfra.dev/stack": name}},
                "policyTypes": ["Ingress"],
            },
        },
        "kubernetes_job_v1": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta("job", name),
            "spec": {
                "backoffLimit": 0,
                "completions": 1,
                "parallelism": 1,
                "activeDeadlineSeconds": v.get("active_deadline_seconds", 86400),
                "ttlSecondsAfterFinished": v.get("ttl_seconds_after_finished", 300),
                "template": {
                    "metadata": {
                        "labels": {**base, "app.kubernetes.io/component": "runner"},
                        "annotations": annotations,
                    },
                    "spec": pod_spec,
                },
            },
        },
    }
    if not v.get("service_account_name"):
        made["kubernetes_service_account_v1"] = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta("identity", name),
            "automountServiceAccountToken": False,
        }
    return made
