"""cmlinfra's objects on a cluster, found by their ``cmlinfra.dev/stack`` label alone (no
Terraform, no state): what ``gc`` compares with the registry.

A machine is a Job (its pod's life), or a labelled pod or Secret whose Job is gone (an owner
deleted with ``--cascade=orphan``, a launcher killed between two calls). Deleting a Job's machine
deletes everything labelled with its stack — pods, the registration Secret, the ServiceAccount
and NetworkPolicy — in the foreground, so nothing is left that was made with it; a 404 is fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.base import Machine
from cmlinfra.clouds.kubernetes.api import Api
from cmlinfra.clouds.kubernetes.tags import EXPIRES_LABEL, ROLE_LABEL, STACK_LABEL
from cmlinfra.clouds.tags import parse_expiry


def _state(job: Any) -> str:
    status = job.status
    for condition in (status.conditions or []) if status else []:
        if condition.status == "True" and condition.type in ("Complete", "Failed"):
            return condition.type.lower()
    return "active" if status is not None and status.active else "pending"


def _machine(kind: str, item: Any, namespace: str, state: str) -> Machine:
    labels = item.metadata.labels or {}
    return Machine(
        cloud="kubernetes",
        id=f"{namespace}/{kind}/{item.metadata.name}",
        stack=labels[STACK_LABEL],
        region=namespace,
        state=state,
        expires=parse_expiry(labels.get(EXPIRES_LABEL)),
        role=labels.get(ROLE_LABEL, ""),
    )


@dataclass
class KubernetesInventory:
    api: Api
    namespaces: tuple[str, ...]
    cloud: str = "kubernetes"

    def machines(self) -> list[Machine]:
        found: list[Machine] = []
        api = self.api
        for ns in self.namespaces:
            jobs = api.call(
                f"listing jobs in {ns}",
                api.batch.list_namespaced_job,
                ns,
                label_selector=STACK_LABEL,
            )
            names = set()
            for job in jobs.items if jobs is not None else []:
                names.add(job.metadata.name)
                found.append(_machine("job", job, ns, _state(job)))
            pods = api.call(
                f"listing pods in {ns}",
                api.core.list_namespaced_pod,
                ns,
                label_selector=STACK_LABEL,
            )
            for pod in pods.items if pods is not None else []:
                if (pod.metadata.labels or {}).get("job-name") not in names:
                    found.append(_machine("pod", pod, ns, f"pod {pod.status.phase}, no job"))
            secrets = api.call(
                f"listing secrets in {ns}",
                api.core.list_namespaced_secret,
                ns,
                label_selector=STACK_LABEL,
            )
            for secret in secrets.items if secrets is not None else []:
                owners = {o.name for o in secret.metadata.owner_references or []}
                if not owners & names:
                    found.append(_machine("secret", secret, ns, "secret, no job"))
        return found

    def delete(self, machine: Machine) -> None:
        namespace, kind, name = machine.id.split("/", 2)
        api = self.api
        if kind == "secret":
            api.call(
                f"deleting secret {name}",
                api.core.delete_namespaced_secret,
                name,
                namespace,
                missing_ok=True,
            )
            return
        if kind == "pod":
            api.call(
                f"deleting pod {name}",
                api.core.delete_namespaced_pod,
                name,
                namespace,
                missing_ok=True,
            )
            return
        from kubernetes import client

        api.call(
            f"deleting job {name}",
            api.batch.delete_namespaced_job,
            name,
            namespace,
            body=client.V1DeleteOptions(propagation_policy="Foreground"),
            missing_ok=True,
        )
        selector = f"{STACK_LABEL}={machine.stack}"
        for what, lister, deleter in (
            ("pod", api.core.list_namespaced_pod, api.core.delete_namespaced_pod),
            ("secret", api.core.list_namespaced_secret, api.core.delete_namespaced_secret),
            (
                "service account",
                api.core.list_namespaced_service_account,
                api.core.delete_namespaced_service_account,
            ),
            (
                "network policy",
                api.networking.list_namespaced_network_policy,
                api.networking.delete_namespaced_network_policy,
            ),
        ):
            listing = api.call(f"listing {what}s", lister, namespace, label_selector=selector)
            for item in listing.items if listing is not None else []:
                api.call(
                    f"deleting {what} {item.metadata.name}",
                    deleter,
                    item.metadata.name,
                    namespace,
                    missing_ok=True,
                )
