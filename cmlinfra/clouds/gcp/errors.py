"""Google Cloud's failures → one-line errors with a fix, and → a kind the retry policy knows.

Two sources: the Python clients (``googleapiclient.errors.HttpError`` with Google's JSON error
body, ``google.auth`` exceptions, socket errors) and the text Terraform's Google provider
prints, which quotes the Compute API's operation error codes
(``ZONE_RESOURCE_POOL_EXHAUSTED``, ``QUOTA_EXCEEDED``…). The codes and messages matched here
are the ones Google documents for the Compute API (see tests/clouds/gcp/data/errors/SOURCE.md).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cmlinfra.errors import CmlinfraError, UsageError

ENDPOINT_ENV = "CMLINFRA_GCP_ENDPOINT"
DEFAULT_ENDPOINT = "https://compute.googleapis.com/"

# kind -> operation error codes / reasons that mean it (Compute API, Terraform's Google provider)
KINDS: dict[str, tuple[str, ...]] = {
    "capacity": (
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "RESOURCE_POOL_EXHAUSTED",
        "STOCKOUT",
        "resourceExhausted",
        "does not have enough resources available to fulfill the request",
    ),
    "quota": (
        "QUOTA_EXCEEDED",
        "quotaExceeded",
        "rateLimitExceeded",
        "Quota '",
    ),
    "auth": (
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "forbidden",
        "insufficientPermissions",
        "accessNotConfigured",
        "SERVICE_DISABLED",
        "invalid_grant",
        "Request had invalid authentication credentials",
    ),
    "bad_request": (
        "INVALID_ARGUMENT",
        "invalid",
        "badRequest",
        "notFound",
        "UNSUPPORTED_OPERATION",
        "CONDITION_NOT_MET",
        "is not supported",
    ),
    "transient": (
        "backendError",
        "internalError",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "rateLimitExceeded",
        "RESOURCE_NOT_READY",
        "resourceNotReady",
        "connection reset",
        "i/o timeout",
    ),
}
# the most specific first: an exhausted zone also says "does not have enough resources"
ORDER = ("capacity", "quota", "auth", "transient", "bad_request")


def classify(text: str) -> str:
    """capacity / quota / auth / transient / bad_request / unknown, from an API error body,
    an operation error code or a Terraform diagnostic."""
    for kind in ORDER:
        for needle in KINDS[kind]:
            pattern = rf"\b{re.escape(needle)}\b" if needle.isidentifier() else re.escape(needle)
            if re.search(pattern, text):
                return kind
    return "unknown"


def endpoint() -> str:
    return os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT


def http_error_parts(exc: Any) -> tuple[int, str, str]:
    """(status, reason, message) of a ``googleapiclient.errors.HttpError``."""
    status = int(getattr(exc.resp, "status", 0) or 0)
    try:
        body = json.loads(exc.content.decode() if isinstance(exc.content, bytes) else exc.content)
        error = body.get("error", {})
    except (ValueError, AttributeError):
        return status, "", str(exc)
    reasons = [e.get("reason", "") for e in error.get("errors", []) if isinstance(e, dict)]
    reasons += [d.get("reason", "") for d in error.get("details", []) if isinstance(d, dict)]
    reason = next((r for r in reasons if r), str(error.get("status", "")))
    return status, reason, str(error.get("message", ""))


def _api_disabled(reason: str, message: str) -> bool:
    disabled = reason in {"accessNotConfigured", "SERVICE_DISABLED"}
    return disabled or "has not been used in" in message


@contextmanager
def gcp_errors(what: str, project: str | None = None) -> Iterator[None]:
    """Turn the clients' failures into one-line errors with a fix."""
    from google.auth import exceptions as auth_exceptions
    from googleapiclient.errors import HttpError

    try:
        yield
    except HttpError as exc:
        status, reason, message = http_error_parts(exc)
        where = f" in project {project}" if project else ""
        if _api_disabled(reason, message):
            raise CmlinfraError(
                f"the Compute Engine API is not enabled{where}",
                f"enable it: gcloud services enable compute.googleapis.com"
                f"{f' --project {project}' if project else ''}",
            ) from None
        if status == 401:
            raise CmlinfraError(
                f"Google Cloud rejected the credentials while {what}",
                "renew them (gcloud auth application-default login, or the CI's workload "
                "identity federation step)",
            ) from None
        if status == 403:
            raise CmlinfraError(
                f"Google Cloud refused {what}{where}: {reason or 'forbidden'}: {message[:200]}",
                "grant the launcher's identity the roles in docs/gcp.md (Compute Instance "
                "Admin, Service Account Admin and User)",
            ) from None
        raise CmlinfraError(
            f"Google Cloud error while {what}: {status} {reason}: {' '.join(message.split())[:300]}"
        ) from None
    except auth_exceptions.DefaultCredentialsError:
        raise CmlinfraError(
            "no Google Cloud credentials found",
            "run 'gcloud auth application-default login', set GOOGLE_APPLICATION_CREDENTIALS, "
            "or authenticate the CI job with workload identity federation",
        ) from None
    except auth_exceptions.RefreshError as exc:
        raise CmlinfraError(
            f"Google Cloud credentials could not be refreshed while {what} ({_first(exc)})",
            "renew them (gcloud auth application-default login, or check the workload "
            "identity pool, provider and service account binding)",
        ) from None
    except (OSError, TimeoutError) as exc:
        raise CmlinfraError(
            f"cannot reach the Google Compute API at {endpoint()} while {what} "
            f"({type(exc).__name__})",
            f"check the network and proxy, or unset {ENDPOINT_ENV} if it points nowhere",
        ) from None


def _first(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return " ".join(text.split())[:160]


def not_found(exc: CmlinfraError) -> bool:
    """Whether a wrapped API error was a 404 (the caller words that error)."""
    return " 404 " in f" {exc.problem} "


def unknown_zone(zone: str, region_zones: list[str]) -> UsageError:
    hint = f"zones of that region: {', '.join(region_zones)}" if region_zones else ""
    return UsageError(
        f"zone {zone} does not exist (or is not visible to this project)",
        hint or "check --cloud-region (a region such as us-central1, a zone such as us-central1-a)",
    )
