"""Azure's failures → one kind each, and one-line errors with the fix.

Azure Resource Manager answers every failure with ``{"error": {"code", "message"}}``; the SDK
raises it as ``HttpResponseError`` and Terraform's azurerm provider prints it as
``unexpected status 409 (409 Conflict) with error: CODE: MESSAGE``. Both end up here, so the
knowledge of which code means "no capacity" (try another location or size later), "quota"
(ask Azure for more), "spot price" (raise the bid), "auth" (fix the credentials), "bad
request" (fix the input) or "transient" (retry) lives in one place. tests/clouds/azure/
test_errors.py quotes real texts, each with where it was seen.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from cmlinfra.errors import CmlinfraError, UsageError

Kind = Literal["capacity", "quota", "spot_price", "auth", "bad_request", "transient", "unknown"]

CAPACITY = {
    "SkuNotAvailable",
    "AllocationFailed",
    "ZonalAllocationFailed",
    "OverconstrainedAllocationRequest",
    "OverconstrainedZonalAllocationRequest",
    "AllocationFailedVmSizeNotAvailable",
}
QUOTA = {"QuotaExceeded", "OperationNotAllowed"}  # OperationNotAllowed: only with a quota text
AUTH = {
    "AuthorizationFailed",
    "AuthenticationFailed",
    "InvalidAuthenticationToken",
    "InvalidAuthenticationTokenTenant",
    "ExpiredAuthenticationToken",
    "LinkedAuthorizationFailed",
    "SubscriptionNotFound",
    "InvalidSubscriptionId",
    "MissingSubscriptionRegistration",
    "DisallowedByAzure",
    "RequestDisallowedByPolicy",
}
TRANSIENT = {
    "TooManyRequests",
    "RetryableError",
    "InternalServerError",
    "ServiceUnavailable",
    "GatewayTimeout",
    "InternalExecutionError",
    "OperationPreempted",
    "Conflict",
}
BAD_REQUEST = {
    "InvalidParameter",
    "BadRequest",
    "InvalidResourceName",
    "InvalidRequestFormat",
    "ImageNotFound",
    "PlatformImageNotFound",
    "InvalidTemplate",
    "ResourceNotFound",
    "ResourceGroupNotFound",
    "NotFound",
    "LocationNotAvailableForResourceType",
}
QUOTA_TEXT = re.compile(r"quota|Current Limit|Maximum allowed", re.I)
SPOT_TEXT = re.compile(r"max price .* lower than the current spot price", re.I | re.S)
# Terraform azurerm: "... unexpected status 409 (409 Conflict) with error: CODE: MESSAGE"
TF_ERROR = re.compile(r"with error: (\w+): (.*)", re.S)
# autorest (older providers, SDK logs): Code="CODE" Message="MESSAGE"
AUTOREST = re.compile(r'Code="(\w+)" Message="(.*?)"(?:\s|$)', re.S)


def classify(code: str, message: str = "") -> Kind:
    """The kind of an Azure error code (and message, where one code means several things)."""
    if SPOT_TEXT.search(message):
        return "spot_price"
    if code in CAPACITY:
        return "capacity"
    if code in QUOTA and (code == "QuotaExceeded" or QUOTA_TEXT.search(message)):
        return "quota"
    if code in AUTH:
        return "auth"
    if code in TRANSIENT:
        return "transient"
    if code in BAD_REQUEST or code == "OperationNotAllowed":
        return "bad_request"
    return "unknown"


def parse(text: str) -> tuple[str, str] | None:
    """(code, message) of the Azure error in a Terraform diagnostic or SDK log text."""
    for pattern in (TF_ERROR, AUTOREST):
        found = pattern.search(text)
        if found:
            return found.group(1), found.group(2).strip()
    return None


def classify_text(text: str) -> Kind:
    """The kind of the Azure error quoted in ``text`` (Terraform's output, an SDK message)."""
    found = parse(text)
    return classify(*found) if found else "unknown"


FIXES: dict[Kind, str] = {
    "capacity": "try another --cloud-region or --cloud-type, or again later",
    "quota": "ask Azure for more vCPU quota (portal: Quotas > Compute) or pick a smaller size",
    "spot_price": "raise --cloud-spot-price, or pass -1 to pay up to the pay-as-you-go price",
    "auth": "check the Azure credentials, the subscription and the principal's role",
    "bad_request": "check the options named in the message",
    "transient": "run it again",
    "unknown": "see the message; docs/azure.md lists what cmlinfra needs",
}


def arm_endpoint() -> str:
    """Where Azure Resource Manager is: ``$CMLINFRA_AZURE_ARM_ENDPOINT`` (a local fake, a
    sovereign cloud) or the public cloud's."""
    return os.environ.get("CMLINFRA_AZURE_ARM_ENDPOINT") or "https://management.azure.com"


@contextmanager
def azure_errors(what: str) -> Iterator[None]:
    """Turn azure-core's and azure-identity's failures into one-line errors with a fix."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        yield
    except ClientAuthenticationError as exc:
        if type(exc).__name__ == "CredentialUnavailableError" or exc.status_code is None:
            raise CmlinfraError(
                "no Azure credentials found",
                "run azure/login (OIDC) or 'az login', or set AZURE_CLIENT_ID/AZURE_TENANT_ID "
                "with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE, or use a managed "
                "identity",
            ) from None
        raise CmlinfraError(
            f"Azure refused the credentials while {what} ({_code(exc)})", FIXES["auth"]
        ) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise CmlinfraError(
            f"cannot reach Azure Resource Manager at {arm_endpoint()} while {what} "
            f"({type(exc).__name__})",
            "check the network and proxy, or unset CMLINFRA_AZURE_ARM_ENDPOINT if it points "
            "nowhere",
        ) from None
    except HttpResponseError as exc:
        code = _code(exc)
        message = _message(exc)
        kind = classify(code, message)
        problem = f"Azure error while {what}: {code}: {message}"
        if kind == "bad_request":
            raise UsageError(problem, FIXES[kind]) from None
        raise CmlinfraError(problem, FIXES[kind]) from None


def _code(exc: object) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or getattr(exc, "reason", None)
    return str(code or getattr(exc, "status_code", "") or type(exc).__name__)


def _message(exc: object) -> str:
    error = getattr(exc, "error", None)
    text = getattr(error, "message", None) or str(getattr(exc, "message", "") or exc)
    return " ".join(str(text).split())[:400]
