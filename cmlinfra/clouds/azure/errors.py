"""What Azure's errors mean for a retry, and one-line errors with the fix.

Azure Resource Manager answers every failure with ``{"error": {"code", "message"}}``; the SDK
raises it as ``HttpResponseError`` (``(SkuNotAvailable) The requested VM size …``) and
Terraform's azurerm provider prints it as ``unexpected status 409 (409 Conflict) with error:
SkuNotAvailable: …`` (older providers: ``Code="…" Message="…"``), so one table of :class:`Rule`
serves all three. Order matters: the first matching rule wins (a spot-price refusal and a
quota refusal both come as ``OperationNotAllowed``; only the message tells them apart).
tests/clouds/azure/test_errors.py and the contract harness quote a real message for each kind,
with its source.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.errors import Rule, classify
from cmlinfra.errors import CmlinfraError, UsageError


def _codes(kind: ErrorKind, *codes: str) -> Rule:
    return Rule(kind, r"\b(?:" + "|".join(codes) + r")\b")


RULES = (
    Rule(ErrorKind.BAD_REQUEST, r"\bUnsupported (?:argument|attribute|block type)\b"),
    Rule(ErrorKind.SPOT_PRICE, r"(?s)max price .*lower than the current spot price"),
    _codes(ErrorKind.QUOTA, "QuotaExceeded"),
    Rule(
        ErrorKind.QUOTA,
        r"(?s)OperationNotAllowed\b.*?(?:quota|Current Limit|Maximum allowed)"
        r"|exceeding approved .*? quota|not enough .*? quota in ",
    ),
    _codes(
        ErrorKind.CAPACITY,
        "SkuNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "AllocationFailedVmSizeNotAvailable",
    ),
    Rule(ErrorKind.CAPACITY, r" is not offered in [a-z0-9]+| is restricted for this subscription"),
    _codes(
        ErrorKind.AUTH,
        "AuthorizationFailed",
        "AuthenticationFailed",
        "InvalidAuthenticationToken",
        "InvalidAuthenticationTokenTenant",
        "ExpiredAuthenticationToken",
        "LinkedAuthorizationFailed",
        "SubscriptionNotFound",
        "InvalidSubscriptionId",
        "MissingSubscriptionRegistration",
        "RequestDisallowedByPolicy",
        r"AADSTS\d+",
    ),
    Rule(
        ErrorKind.AUTH,
        r"no Azure credentials found|Azure refused the credentials|no Azure subscription"
        r"|DefaultAzureCredential failed",
    ),
    _codes(
        ErrorKind.TRANSIENT,
        "TooManyRequests",
        "RetryableError",
        "InternalServerError",
        "ServiceUnavailable",
        "GatewayTimeout",
        "InternalExecutionError",
        "OperationPreempted",
    ),
    Rule(ErrorKind.TRANSIENT, r"cannot reach Azure Resource Manager"),
    _codes(
        ErrorKind.BAD_REQUEST,
        "InvalidParameter",
        "BadRequest",
        "InvalidResourceName",
        "InvalidRequestFormat",
        "PlatformImageNotFound",
        "ImageNotFound",
        "InvalidTemplate",
        "ResourceGroupNotFound",
        "ResourceNotFound",
        "LocationNotAvailableForResourceType",
        "OperationNotAllowed",
    ),
)


def classify_error(error: BaseException | str) -> ErrorKind:
    """The kind of an Azure / Terraform azurerm error (``UNKNOWN`` when no rule knows it)."""
    return classify(error, RULES)


FIXES: dict[ErrorKind, str] = {
    ErrorKind.CAPACITY: "try another --cloud-region or --cloud-type, or again later",
    ErrorKind.QUOTA: "ask Azure for more vCPU quota (portal: Quotas > Compute) or pick a "
    "smaller size",
    ErrorKind.SPOT_PRICE: "raise --cloud-spot-price, or pass -1 to pay up to the "
    "pay-as-you-go price",
    ErrorKind.AUTH: "check the Azure credentials, the subscription and the principal's role",
    ErrorKind.BAD_REQUEST: "check the options named in the message",
    ErrorKind.TRANSIENT: "run it again",
    ErrorKind.UNKNOWN: "see the message; docs/azure.md lists what cmlinfra needs",
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
            f"Azure refused the credentials while {what} ({_code(exc)})", FIXES[ErrorKind.AUTH]
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
        problem = f"Azure error while {what}: {code}: {_message(exc)}"
        kind = classify_error(problem)
        if kind == ErrorKind.BAD_REQUEST:
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
