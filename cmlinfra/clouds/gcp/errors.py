"""Google Cloud's failures → one-line errors with a fix, and → a kind the retry policy knows.

Two sources: the Python clients (``googleapiclient.errors.HttpError`` with Google's JSON error
body, ``google.auth`` exceptions, socket errors) and the text Terraform's Google provider
prints, which quotes the Compute API's operation error codes
(``ZONE_RESOURCE_POOL_EXHAUSTED``, ``QUOTA_EXCEEDED``…). ``gcp_errors`` words the first kind
for a person; ``RULES`` classifies both for the retry policy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.errors import Rule, classify
from cmlinfra.errors import CmlinfraError, UsageError

ENDPOINT_ENV = "CMLINFRA_GCP_ENDPOINT"
DEFAULT_ENDPOINT = "https://compute.googleapis.com/"


def _codes(kind: ErrorKind, *codes: str) -> Rule:
    return Rule(kind, r"\b(?:" + "|".join(codes) + r")\b")


# First match wins. Codes are the Compute API's operation error codes and Google's error
# reasons (https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-vm-creation,
# https://cloud.google.com/apis/design/errors); they reach us through googleapiclient's
# HttpError and inside the Google provider's Terraform diagnostics ("googleapi: Error 403:
# …, forbidden"). tests/clouds/contract/harness_gcp.py quotes a real message for each kind.
RULES = (
    # Terraform's configuration errors, whose wording would otherwise look like API codes
    Rule(ErrorKind.BAD_REQUEST, r"\bUnsupported (?:argument|attribute|block type)\b"),
    _codes(
        ErrorKind.CAPACITY,
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "REGION_RESOURCE_POOL_EXHAUSTED",
        "STOCKOUT",
        "resource_availability",
    ),
    Rule(ErrorKind.CAPACITY, r"does not have enough resources available to fulfill the request"),
    Rule(ErrorKind.CAPACITY, r"is currently unavailable in the [a-z0-9-]+ zone"),
    Rule(ErrorKind.CAPACITY, r" is not offered in (?:zone|region) [a-z]+-[a-z]+\d"),  # resolve()
    _codes(
        ErrorKind.TRANSIENT, "rateLimitExceeded", "RATE_LIMIT_EXCEEDED", "userRateLimitExceeded"
    ),
    _codes(ErrorKind.QUOTA, "QUOTA_EXCEEDED", "quotaExceeded", "RESOURCE_EXHAUSTED"),
    Rule(ErrorKind.QUOTA, r"Quota '[A-Z0-9_]+' exceeded|insufficient regional quota"),
    Rule(ErrorKind.QUOTA, r"GPU quota exhausted"),  # resolve()'s check
    Rule(ErrorKind.AUTH, r"has not been used in project \S+ before or it is disabled"),
    _codes(
        ErrorKind.AUTH,
        "accessNotConfigured",
        "SERVICE_DISABLED",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "insufficientPermissions",
        "invalid_grant",
        "authError",
    ),
    Rule(ErrorKind.AUTH, r"Required '[a-zA-Z.]+' permission for|Error 40[13]: .*, forbidden"),
    Rule(
        ErrorKind.AUTH,
        r"no Google Cloud credentials found|could not find default credentials|"
        r"Google Cloud (?:rejected|refused)|credentials could not be refreshed|"
        r"Compute Engine API is not enabled",
    ),
    _codes(
        ErrorKind.TRANSIENT,
        "backendError",
        "internalError",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "RESOURCE_NOT_READY",
        "resourceNotReady",
        "resourceInUseByAnotherResource",
    ),
    Rule(ErrorKind.TRANSIENT, r"cannot reach the Google Compute API|Error 50[234]\b"),
    _codes(
        ErrorKind.BAD_REQUEST,
        "INVALID_ARGUMENT",
        "invalid",
        "badRequest",
        "notFound",
        "alreadyExists",
        "UNSUPPORTED_OPERATION",
        "CONDITION_NOT_MET",
    ),
    Rule(ErrorKind.BAD_REQUEST, r"Invalid value for field|Error 40[049]\b"),
)


def classify_error(error: BaseException | str) -> ErrorKind:
    """The kind of a Compute API / Terraform google error (``UNKNOWN`` when no rule knows)."""
    return classify(error, RULES)


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
    except auth_exceptions.TransportError as exc:
        raise CmlinfraError(
            f"cannot reach Google's token or project service while {what} ({_first(exc)})",
            "check the network and proxy, and set GOOGLE_CLOUD_PROJECT",
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
