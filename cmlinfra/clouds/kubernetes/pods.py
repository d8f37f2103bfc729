"""Waiting for a Job's pod to run, and saying why it does not.

The scheduler's verdict is read from the pod (``PodScheduled=False``, reason ``Unschedulable``)
and its ``FailedScheduling`` events: *0/3 nodes are available: 3 Insufficient nvidia.com/gpu*
is a **capacity** error (no node has the GPU now: another size, selector or time may work). A
cluster autoscaler that answered with a ``TriggeredScaleUp`` event gets a longer wait. An image
that cannot be pulled, a quota that refuses the pod, a Job that failed: each is one line with
the cluster's own reason. :class:`PodWaitError` carries the kind for ``classify_error``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.kubernetes.api import Api
from cmlinfra.errors import CmlinfraError

SCHEDULE_WAIT_ENV = "CMLINFRA_KUBERNETES_SCHEDULE_WAIT"  # seconds a pod may stay unschedulable
START_WAIT_ENV = "CMLINFRA_KUBERNETES_START_WAIT"  # seconds to Running (image pulls included)
SCALE_UP_FACTOR = 5  # an autoscaler adding a node: this many times longer
BAD_IMAGE = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
BAD_CONFIG = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


class PodWaitError(CmlinfraError):
    """The pod will not run (now): ``kind`` says whether another try elsewhere could help."""

    def __init__(self, problem: str, fix: str, kind: ErrorKind) -> None:
        super().__init__(problem, fix)
        self.kind = kind


@dataclass(frozen=True)
class Waits:
    schedule: float
    start: float

    @classmethod
    def from_env(cls) -> Waits:
        return cls(
            float(os.environ.get(SCHEDULE_WAIT_ENV, "180")),
            float(os.environ.get(START_WAIT_ENV, "900")),
        )


def _condition(pod: Any, kind: str) -> Any:
    return next((c for c in (pod.status.conditions or []) if c.type == kind), None)


def _events(api: Api, namespace: str, name: str, kind: str) -> list[Any]:
    listing = api.call(
        f"reading the events of {kind} {name}",
        api.core.list_namespaced_event,
        namespace,
        field_selector=f"involvedObject.name={name},involvedObject.kind={kind}",
    )
    items = list(listing.items) if listing is not None else []
    return sorted(items, key=lambda e: str(e.last_timestamp or e.event_time or ""))


def _waiting_reason(pod: Any) -> tuple[str, str]:
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return str(waiting.reason), " ".join(str(waiting.message or "").split())
    return "", ""


def _job_failure(api: Api, namespace: str, job: str) -> PodWaitError | None:
    """The Job cannot make its pod (a quota, an admission webhook) or has already failed."""
    found = api.call(f"reading job {job}", api.batch.read_namespaced_job, job, namespace)
    conditions = (found.status.conditions or []) if found is not None and found.status else []
    for condition in conditions:
        if condition.type == "Failed" and condition.status == "True":
            return PodWaitError(
                f"job {namespace}/{job} failed: {condition.reason}: {condition.message}",
                "see 'kubectl describe job'; the pod's logs say more",
                ErrorKind.UNKNOWN,
            )
    for event in _events(api, namespace, job, "Job"):
        if event.reason == "FailedCreate":
            message = " ".join(str(event.message).split())
            kind = ErrorKind.QUOTA if "exceeded quota" in message else ErrorKind.BAD_REQUEST
            return PodWaitError(
                f"job {namespace}/{job} cannot create its pod: {message}",
                "raise the namespace's ResourceQuota or ask for a smaller --cloud-type"
                if kind is ErrorKind.QUOTA
                else "fix what the cluster refused (see 'kubectl describe job')",
                kind,
            )
    return None


def wait_running(
    api: Api,
    namespace: str,
    job: str,
    waits: Waits | None = None,
    *,
    say: Callable[[str], None] = lambda _m: None,
    poll: float = 1.0,
) -> Any:
    """The Job's pod once it runs; :class:`PodWaitError` as soon as it cannot."""
    waits = waits or Waits.from_env()
    start = time.monotonic()
    unschedulable_since: float | None = None
    said = ""
    while True:
        listing = api.call(
            f"listing the pods of job {job}",
            api.core.list_namespaced_pod,
            namespace,
            label_selector=f"job-name={job}",
        )
        pods = list(listing.items) if listing is not None else []
        pod = pods[-1] if pods else None
        now = time.monotonic()
        if pod is None:
            failure = _job_failure(api, namespace, job)
            if failure is not None:
                raise failure
        elif pod.status.phase == "Running":
            return pod
        elif pod.status.phase in ("Succeeded", "Failed"):
            raise PodWaitError(
                f"pod {namespace}/{pod.metadata.name} ended ({pod.status.phase}: "
                f"{pod.status.reason or 'no reason given'}) before cmlinfra could reach it",
                "see 'kubectl logs' of the pod; its image must keep the container running",
                ErrorKind.UNKNOWN,
            )
        else:
            scheduled = _condition(pod, "PodScheduled")
            if scheduled is not None and scheduled.status == "False":
                unschedulable_since = unschedulable_since or now
                events = _events(api, namespace, pod.metadata.name, "Pod")
                why = next(
                    (e.message for e in reversed(events) if e.reason == "FailedScheduling"),
                    scheduled.message or scheduled.reason,
                )
                why = " ".join(str(why).split())
                scaling = any(e.reason == "TriggeredScaleUp" for e in events)
                limit = waits.schedule * (SCALE_UP_FACTOR if scaling else 1)
                if why != said:
                    say(f"pod {pod.metadata.name} is not scheduled yet: {why}")
                    said = why
                if now - unschedulable_since >= limit:
                    raise PodWaitError(
                        f"no node can run pod {namespace}/{pod.metadata.name} "
                        f"(unschedulable for {now - unschedulable_since:.0f}s): {why}",
                        "free or add a node with what it asks for, or change --cloud-type, "
                        "--cloud-gpu or --cloud-kubernetes-node-selector",
                        ErrorKind.CAPACITY,
                    )
            else:
                unschedulable_since = None
                reason, message = _waiting_reason(pod)
                if reason in BAD_IMAGE or reason in BAD_CONFIG:
                    raise PodWaitError(
                        f"pod {namespace}/{pod.metadata.name} cannot start: {reason}: {message}",
                        "check --cloud-image (name, tag, registry credentials)"
                        if reason in BAD_IMAGE
                        else "see 'kubectl describe pod'",
                        ErrorKind.BAD_REQUEST,
                    )
        if now - start >= waits.start:
            raise PodWaitError(
                f"the pod of job {namespace}/{job} is not running after {waits.start:.0f}s",
                f"see 'kubectl describe job {job}'; a large image may need ${START_WAIT_ENV}",
                ErrorKind.TRANSIENT,
            )
        time.sleep(poll)  # polling the API with a deadline: the cluster has no callback
