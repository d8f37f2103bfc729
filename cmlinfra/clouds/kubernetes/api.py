"""The few Kubernetes API calls cmlinfra makes, through the official client, with its errors
turned into one-line :class:`CmlinfraError`\\ s that keep the API's own words (``errors.py``
classifies them for a retry).

The client is imported here only, lazily: ``--help`` and the registry never load it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from cmlinfra.clouds.kubernetes.connection import Connection, connect
from cmlinfra.errors import CmlinfraError

T = TypeVar("T")
API_FIX = "check the kubeconfig's context and that its user may manage jobs, pods and secrets"


def api_message(exc: Any) -> str:
    """The API's own words from an ``ApiException``: its Status ``message`` (and reason)."""
    body = getattr(exc, "body", None)
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        status = {}
    message = status.get("message") if isinstance(status, dict) else None
    code = getattr(exc, "status", 0) or ""
    reason = (status.get("reason") if isinstance(status, dict) else None) or exc.reason
    text = f"{reason} ({code}): {message}" if message else f"{reason} ({code})"
    return " ".join(str(text).split())


class Api:
    """The cluster behind one :class:`Connection`."""

    def __init__(self, connection: Connection | None = None) -> None:
        self.connection = connection or connect()
        from kubernetes import client

        self.core = client.CoreV1Api(self.connection.client)
        self.batch = client.BatchV1Api(self.connection.client)
        self.networking = client.NetworkingV1Api(self.connection.client)
        self.auth = client.AuthorizationV1Api(self.connection.client)

    def call(
        self, what: str, fn: Callable[..., T], *args: Any, missing_ok: bool = False, **kwargs: Any
    ) -> T | None:
        """``fn(*args, **kwargs)``; a 404 is None when ``missing_ok``; any other failure a
        one-line error saying ``what`` failed, in the API's words."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            if exc.status == 0:  # the websocket layer's wrapping of a connection failure
                raise self._unreachable(what, exc.reason) from None
            raise CmlinfraError(
                f"Kubernetes API: {what} failed: {api_message(exc)}", API_FIX
            ) from None
        except (HTTPError, OSError) as exc:
            raise self._unreachable(what, exc) from None

    def _unreachable(self, what: str, exc: object) -> CmlinfraError:
        reason = " ".join(str(exc).split())[-200:]
        return CmlinfraError(
            f"cannot reach the Kubernetes API at {self.connection.server} ({what}: {reason})",
            f"check the cluster and the kubeconfig ({self.connection.source})",
        )

    def can_i(self, namespace: str, verb: str, resource: str, group: str = "") -> bool:
        """SelfSubjectAccessReview: may this user ``verb`` ``resource`` in ``namespace``?"""
        from kubernetes import client

        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb=verb, resource=resource, group=group
                )
            )
        )
        done = self.call(
            "checking permissions", self.auth.create_self_subject_access_review, review
        )
        return bool(done is not None and done.status and done.status.allowed)
