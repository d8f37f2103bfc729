"""The fake cluster's state and controllers: objects by (resource, namespace, name), the Job
controller (one pod per Job, ``backoffLimit`` 0, ``activeDeadlineSeconds``,
``ttlSecondsAfterFinished``), a scheduler over fake nodes (resources, labels, taints, with the
real scheduler's FailedScheduling wording), ResourceQuota admission, the kubelet (kubelet.py)
and the garbage collector (owner references, foreground and background deletion)."""

from __future__ import annotations

import base64
import copy
import itertools
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.kube_server.kubelet import Container

KINDS = {  # resource -> (kind, apiVersion, namespaced)
    "pods": ("Pod", "v1", True),
    "secrets": ("Secret", "v1", True),
    "serviceaccounts": ("ServiceAccount", "v1", True),
    "events": ("Event", "v1", True),
    "namespaces": ("Namespace", "v1", False),
    "resourcequotas": ("ResourceQuota", "v1", True),
    "jobs": ("Job", "batch/v1", True),
    "networkpolicies": ("NetworkPolicy", "networking.k8s.io/v1", True),
}
_UNITS = {
    "": 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"quantity {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _timer(seconds: float, fn: Any, *args: Any) -> None:
    timer = threading.Timer(seconds, fn, args=args)
    timer.daemon = True  # a test's end must not wait for a Job's TTL
    timer.start()


def _grace(pod: dict[str, Any]) -> float:
    """The pod's ``terminationGracePeriodSeconds`` (the API's default: 30)."""
    return float(pod.get("spec", {}).get("terminationGracePeriodSeconds", 30))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Node:
    name: str
    capacity: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)


class Conflict(Exception):
    pass


class Cluster:
    def __init__(self, nodes: list[Node], namespaces: tuple[str, ...] = ("default",)) -> None:
        self.lock = threading.RLock()
        self.nodes = nodes
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.containers: dict[tuple[str, str], Container] = {}
        self.terminating: list[Container] = []  # deleted pods' containers, in their grace period
        self.version = itertools.count(1)
        self.secret_delay = 0.0  # seconds before the kubelet projects a Secret (tests)
        for ns in namespaces:
            self.put(
                "namespaces",
                "",
                {"metadata": {"name": ns}, "spec": {}, "status": {"phase": "Active"}},
            )

    # -- storage ----------------------------------------------------------------------------

    def put(
        self, resource: str, ns: str, obj: dict[str, Any], *, new: bool = True
    ) -> dict[str, Any]:
        kind, api_version, namespaced = KINDS[resource]
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            key = (resource, ns, meta["name"])
            if new and key in self.objects:
                raise Conflict(f'{resource} "{meta["name"]}" already exists')
            obj["kind"], obj["apiVersion"] = kind, api_version
            if namespaced:
                meta["namespace"] = ns
            old = self.objects.get(key)
            meta["uid"] = old["metadata"]["uid"] if old else str(uuid.uuid4())
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"] if old else now()
            meta["resourceVersion"] = str(next(self.version))
            self.objects[key] = obj
            return obj

    def get(self, resource: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get((resource, ns, name))

    def list(self, resource: str, ns: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                o
                for (r, n, _), o in sorted(self.objects.items())
                if r == resource and ns in (None, n)
            ]

    def event(
        self, ns: str, involved: dict[str, Any], reason: str, message: str, kind: str = "Normal"
    ) -> None:
        meta = involved["metadata"]
        self.put(
            "events",
            ns,
            {
                "metadata": {"generateName": f"{meta['name']}."},
                "involvedObject": {
                    "kind": involved["kind"],
                    "name": meta["name"],
                    "namespace": ns,
                    "uid": meta["uid"],
                    "apiVersion": involved["apiVersion"],
                },
                "reason": reason,
                "message": message,
                "type": kind,
                "count": 1,
                "firstTimestamp": now(),
                "lastTimestamp": now(),
                "source": {
                    "component": "default-scheduler"
                    if reason == "FailedScheduling"
                    else "job-controller"
                },
            },
        )

    # -- deletion and garbage collection ---------------------------------------------------

    def delete(self, resource: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.pop((resource, ns, name), None)
            if obj is None:
                return None
            if resource == "pods":
                container = self.containers.pop((ns, name), None)
                if container is not None:  # the kubelet stops it gracefully, in its own time
                    self.terminating.append(container)
                    threading.Thread(
                        target=container.terminate_and_remove,
                        args=(_grace(obj),),
                        daemon=True,
                    ).start()
            uid = obj["metadata"]["uid"]
            for key, dependent in list(self.objects.items()):
                owners = dependent["metadata"].get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners) and key[1] == ns:
                    self.delete(*key)
            return obj

    # -- the Job controller -----------------------------------------------------------------

    def job_created(self, ns: str, job: dict[str, Any]) -> None:
        spec = job["spec"]
        uid = job["metadata"]["uid"]
        selector = {"batch.kubernetes.io/controller-uid": uid}
        spec.setdefault("selector", {"matchLabels": selector})
        template = copy.deepcopy(spec["template"])
        labels = {
            **(template.get("metadata", {}).get("labels") or {}),
            **selector,
            "controller-uid": uid,
            "job-name": job["metadata"]["name"],
            "batch.kubernetes.io/job-name": job["metadata"]["name"],
        }
        template.setdefault("metadata", {})["labels"] = labels
        spec["template"]["metadata"] = {**template["metadata"]}
        job["status"] = {"startTime": now(), "active": 0, "ready": 0}
        refused = self._quota_refusal(ns, template["spec"])
        if refused:
            self.event(
                ns,
                job,
                "FailedCreate",
                f'Error creating: pods "{job["metadata"]["name"]}-x" is forbidden: {refused}',
                "Warning",
            )
            return
        pod = {
            "metadata": {
                "generateName": f"{job['metadata']['name']}-",
                "labels": labels,
                "annotations": template["metadata"].get("annotations") or {},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job["metadata"]["name"],
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": template["spec"],
            "status": {"phase": "Pending", "conditions": [], "qosClass": "Guaranteed"},
        }
        pod = self.put("pods", ns, pod)
        job["status"]["active"] = 1
        self.event(ns, job, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline:
            _timer(deadline, self._deadline, ns, job["metadata"]["name"], uid)
        self.schedule(ns, pod)

    def _quota_refusal(self, ns: str, pod_spec: dict[str, Any]) -> str:
        for quota in self.list("resourcequotas", ns):
            for key, limit in (quota["spec"].get("hard") or {}).items():
                resource = key.removeprefix("requests.").removeprefix("limits.")
                asked = sum(
                    quantity((c.get("resources", {}).get("limits") or {}).get(resource, "0"))
                    for c in pod_spec["containers"]
                )
                if asked > quantity(limit):
                    return (
                        f"exceeded quota: {quota['metadata']['name']}, requested: {key}={asked:g}, "
                        f"used: {key}=0, limited: {key}={limit}"
                    )
        return ""

    def _deadline(self, ns: str, name: str, uid: str) -> None:
        with self.lock:
            job = self.get("jobs", ns, name)
            if job is None or job["metadata"]["uid"] != uid or self._finished(job):
                return
            for pod in self._pods_of(ns, name):
                self._stop_pod(ns, pod, "Failed", "DeadlineExceeded", graceful=True)
            self._finish(
                ns,
                job,
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            )

    @staticmethod
    def _finished(job: dict[str, Any]) -> bool:
        return any(
            c["type"] in ("Complete", "Failed") for c in job["status"].get("conditions") or []
        )

    def _pods_of(self, ns: str, job: str) -> list[dict[str, Any]]:
        return [p for p in self.list("pods", ns) if p["metadata"]["labels"].get("job-name") == job]

    def _finish(self, ns: str, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        status = job["status"]
        status["active"] = 0
        status["ready"] = 0
        status[("succeeded" if kind == "Complete" else "failed")] = 1
        conditions = [
            {
                "type": "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget",
                "status": "True",
                "lastProbeTime": now(),
                "lastTransitionTime": now(),
                "reason": reason,
                "message": message,
            },
            {
                "type": kind,
                "status": "True",
                "lastProbeTime": now(),
                "lastTransitionTime": now(),
                "reason": reason,
                "message": message,
            },
        ]
        status["conditions"] = conditions
        if kind == "Complete":
            status["completionTime"] = now()
        self.put("jobs", ns, job, new=False)
        ttl = job["spec"].get("ttlSecondsAfterFinished")
        if ttl is not None:
            name, uid = job["metadata"]["name"], job["metadata"]["uid"]
            _timer(ttl, self._collect, ns, name, uid)

    def _collect(self, ns: str, name: str, uid: str) -> None:
        job = self.get("jobs", ns, name)
        if job is not None and job["metadata"]["uid"] == uid:
            self.delete("jobs", ns, name)

    # -- the scheduler ----------------------------------------------------------------------

    def _fits(self, node: Node, spec: dict[str, Any]) -> str:
        """'' when the pod fits the node, else the scheduler's reason for this node."""
        for key, value in (spec.get("nodeSelector") or {}).items():
            if node.labels.get(key) != value:
                return "didn't match Pod's node affinity/selector"
        for taint in node.taints:
            if taint.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any(self._tolerates(t, taint) for t in spec.get("tolerations") or []):
                return f"had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
        used: dict[str, float] = {}
        for pod in self.list("pods", None):
            if pod["spec"].get("nodeName") == node.name and pod["status"]["phase"] in (
                "Pending",
                "Running",
            ):
                for c in pod["spec"]["containers"]:
                    for k, v in ((c.get("resources") or {}).get("limits") or {}).items():
                        used[k] = used.get(k, 0) + quantity(v)
        for c in spec["containers"]:
            for key, value in ((c.get("resources") or {}).get("limits") or {}).items():
                if quantity(value) + used.get(key, 0) > quantity(node.capacity.get(key, "0")):
                    return f"Insufficient {key}"
        return ""

    @staticmethod
    def _tolerates(toleration: dict[str, Any], taint: dict[str, str]) -> bool:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            return False
        if toleration.get("operator") == "Exists":
            return toleration.get("key") in (None, "", taint["key"])
        return toleration.get("key") == taint["key"] and toleration.get("value") == taint.get(
            "value"
        )

    def schedule(self, ns: str, pod: dict[str, Any]) -> None:
        reasons: dict[str, int] = {}
        chosen = None
        for node in self.nodes:
            why = self._fits(node, pod["spec"])
            if not why:
                chosen = node
                break
            reasons[why] = reasons.get(why, 0) + 1
        stamp = now()
        if chosen is None:
            total = len(self.nodes)
            detail = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
            message = (
                f"0/{total} nodes are available: {detail}. preemption: 0/{total} nodes are "
                f"available: {total} No preemption victims found for incoming pod."
            )
            pod["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": stamp,
                    "reason": "Unschedulable",
                    "message": message,
                }
            ]
            self.put("pods", ns, pod, new=False)
            self.event(ns, pod, "FailedScheduling", message, "Warning")
            return
        pod["spec"]["nodeName"] = chosen.name
        pod["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp}
        ]
        self.put("pods", ns, pod, new=False)
        self.event(
            ns,
            pod,
            "Scheduled",
            f"Successfully assigned {ns}/{pod['metadata']['name']} to {chosen.name}",
        )
        threading.Thread(
            target=self._start, args=(ns, pod["metadata"]["name"]), daemon=True
        ).start()

    # -- the kubelet ------------------------------------------------------------------------

    def _start(self, ns: str, name: str) -> None:
        pod = self.get("pods", ns, name)
        if pod is None:
            return
        spec = pod["spec"]
        container = spec["containers"][0]
        mounts = {}
        secrets_dirs = {}
        for volume in spec.get("volumes") or []:
            if "secret" in volume:
                target = Path(f"/tmp/kubelet-volumes/{pod['metadata']['uid']}/{volume['name']}")
                target.mkdir(parents=True, exist_ok=True)
                secrets_dirs[volume["name"]] = (target, volume["secret"])
        for mount in container.get("volumeMounts") or []:
            if mount["name"] in secrets_dirs:
                mounts[mount["mountPath"]] = str(secrets_dirs[mount["name"]][0])
        for target, source in secrets_dirs.values():
            self.project(ns, source, target)
        command = [
            *(container.get("command") or ["sleep", "infinity"]),
            *(container.get("args") or []),
        ]
        started = now()

        def exited(code: int) -> None:
            self._container_exited(ns, name, code)

        with self.lock:
            if self.get("pods", ns, name) is None:
                return
            self.containers[(ns, name)] = Container(name, command, mounts, exited)
            pod["status"].update(
                phase="Running",
                startTime=started,
                hostIP="10.0.0.1",
                podIP="10.244.0.7",
                containerStatuses=[
                    {
                        "name": container["name"],
                        "ready": True,
                        "restartCount": 0,
                        "image": container["image"],
                        "imageID": "",
                        "state": {"running": {"startedAt": started}},
                    }
                ],
            )
            pod["status"]["conditions"] += [
                {"type": "Ready", "status": "True", "lastTransitionTime": started}
            ]
            self.put("pods", ns, pod, new=False)
        self._volumes = getattr(self, "_volumes", {})
        self._volumes[(ns, name)] = secrets_dirs

    def project(self, ns: str, source: dict[str, Any], target: Path) -> None:
        """Write a Secret's keys into a volume directory (after ``secret_delay``)."""
        secret = self.get("secrets", ns, source["secretName"])
        if secret is None:
            return
        if self.secret_delay:
            time.sleep(self.secret_delay)
        mode = int(source.get("defaultMode", 0o644))
        for key, value in (secret.get("data") or {}).items():
            path = target / key
            path.write_bytes(base64.b64decode(value))
            path.chmod(mode)

    def secret_changed(self, ns: str, name: str) -> None:
        for (pod_ns, _), volumes in list(getattr(self, "_volumes", {}).items()):
            for target, source in volumes.values():
                if pod_ns == ns and source["secretName"] == name:
                    threading.Thread(
                        target=self.project, args=(ns, source, target), daemon=True
                    ).start()

    def _stop_pod(
        self,
        ns: str,
        pod: dict[str, Any],
        phase: str,
        reason: str,
        code: int = 137,
        *,
        graceful: bool = False,
    ) -> None:
        container = self.containers.get((ns, pod["metadata"]["name"]))
        if container is not None and graceful:  # the phase is set now, the process ends later
            threading.Thread(target=container.terminate, args=(_grace(pod),), daemon=True).start()
        elif container is not None:
            container.kill()
        pod["status"]["phase"] = phase
        pod["status"]["reason"] = reason
        for status in pod["status"].get("containerStatuses") or []:
            status["ready"] = False
            status["state"] = {
                "terminated": {"exitCode": code, "reason": reason, "finishedAt": now()}
            }
        self.put("pods", ns, pod, new=False)

    def _container_exited(self, ns: str, name: str, code: int) -> None:
        with self.lock:
            pod = self.get("pods", ns, name)
            if pod is None or pod["status"]["phase"] not in ("Running", "Pending"):
                return
            phase = "Succeeded" if code == 0 else "Failed"
            self._stop_pod(ns, pod, phase, "Completed" if code == 0 else "Error", code)
            job = self.get("jobs", ns, pod["metadata"]["labels"].get("job-name", ""))
            if job is None or self._finished(job):
                return
            if code == 0:
                self._finish(
                    ns,
                    job,
                    "Complete",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                )
            else:
                self._finish(
                    ns,
                    job,
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
