"""Azure's error texts → kinds. Each fixture quotes the error as Azure (or Terraform's azurerm
provider, or the SDK) printed it, with where it was seen: the classification is checked
against what users actually got, not against codes we imagined."""

from __future__ import annotations

import pytest

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.errors import azure_errors, classify_error
from cmlinfra.clouds.base import ErrorKind
from cmlinfra.errors import CmlinfraError, UsageError
from tests.fixtures.azure import Arm

# (text, kind, source)
SEEN = [
    (
        "performing CreateOrUpdate: unexpected status 409 (409 Conflict) with error: "
        "SkuNotAvailable: The requested VM size for resource 'Following SKUs have failed for "
        "Capacity Restrictions: Standard_B2s' is currently not available in location 'eastus'. "
        "Please try another size or deploy to a different location or different zone. See "
        "https://aka.ms/azureskunotavailable for details.",
        "capacity",
        "terraform azurerm, github.com/Azure-Samples/azuresandbox/issues/70",
    ),
    (
        'Code="AllocationFailed" Message="Allocation failed. We do not have sufficient capacity '
        "for the requested VM size in this region. Read more about improving likelihood of "
        'allocation success at http://aka.ms/allocation-guidance"',
        "capacity",
        "Azure SDK for Go, github.com/vmware-tanzu/community-edition/issues/3963",
    ),
    (
        'Code="ZonalAllocationFailed" Message="Allocation failed. We do not have sufficient '
        'capacity for the requested VM size in this zone."',
        "capacity",
        "ARM error code, docs: learn.microsoft.com troubleshooting allocation-failure",
    ),
    (
        "unexpected status 409 (409 Conflict) with error: OperationNotAllowed: Operation could "
        "not be completed as it results in exceeding approved Total Regional Cores quota. "
        "Additional details - Deployment Model: Resource Manager, Location: centralus, Current "
        "Limit: 10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12.",
        "quota",
        "github.com/nforgeio/neonKUBE/issues/1671 (the text), azurerm's wrapping",
    ),
    (
        'Status=409 Code="OperationNotAllowed" Message="Operation results in exceeding quota '
        'limits of Core. Maximum allowed: 20, Current in use: 20, Additional requested: 2."',
        "quota",
        "terraform azurerm (autorest), github.com/hashicorp/terraform/issues/10056",
    ),
    (
        'Code="OperationNotAllowed" Message="Unable to perform operation \'Create Virtual '
        "Machine Scale Set' since the provided max price '0.03207 USD' is lower than the "
        "current spot price '0.032077 USD' for Azure Spot VM size 'Standard_D4as_v6'. For more "
        'information, see http://aka.ms/AzureSpot/errormessages."',
        "spot_price",
        "github.com/redhat-developer/mapt/issues/548",
    ),
    (
        "unexpected status 403 (403 Forbidden) with error: AuthorizationFailed: The client "
        "'0000' with object id '0000' does not have authorization to perform action "
        "'Microsoft.Resources/subscriptions/resourcegroups/write' over scope "
        "'/subscriptions/0000/resourcegroups/cml-1' or the scope is invalid.",
        "auth",
        "ARM's AuthorizationFailed as azurerm prints it",
    ),
    (
        'Code="InvalidAuthenticationToken" Message="The access token is invalid."',
        "auth",
        "ARM's answer to a malformed bearer token",
    ),
    (
        "unexpected status 404 (404 Not Found) with error: PlatformImageNotFound: The platform "
        "image 'Canonical:nope:22_04:latest' is not available.",
        "bad_request",
        "ARM error code for a wrong marketplace URN",
    ),
    (
        'Code="TooManyRequests" Message="The request is being throttled."',
        "transient",
        "ARM throttling",
    ),
]


@pytest.mark.parametrize(
    ("text", "kind", "source"), SEEN, ids=[s[1] + str(i) for i, s in enumerate(SEEN)]
)
def test_real_error_texts_are_classified(text: str, kind: str, source: str) -> None:
    assert classify_error(text) == ErrorKind(kind), source


def test_operation_not_allowed_without_a_quota_text_is_a_bad_request() -> None:
    text = "OperationNotAllowed: Operation 'generalize' is not allowed on VM 'x'"
    assert classify_error(text) == ErrorKind.BAD_REQUEST
    assert classify_error("no Azure error in here") == ErrorKind.UNKNOWN


def test_sdk_exceptions_are_classified_by_their_code(arm: Arm) -> None:
    """A real azure-core exception, raised by the SDK from the fake's ARM error document."""
    from azure.core.exceptions import HttpResponseError

    arm.state.fail_next("ResourceGroups_List", 409, "SkuNotAvailable", "not available in 'eastus'")
    with pytest.raises(HttpResponseError) as raised:
        list(lookups.resources().resource_groups.list())
    assert classify_error(raised.value) == ErrorKind.CAPACITY


@pytest.mark.parametrize(
    ("status", "code", "message", "raises", "fix"),
    [
        (
            409,
            "SkuNotAvailable",
            "The requested VM size ... is currently not available",
            CmlinfraError,
            "another --cloud-region",
        ),
        (
            403,
            "AuthorizationFailed",
            "The client does not have authorization",
            CmlinfraError,
            "credentials",
        ),
        (400, "InvalidParameter", "bad", UsageError, "check the options"),
    ],
)
def test_sdk_errors_become_one_line_with_a_fix(
    arm: Arm, status: int, code: str, message: str, raises: type, fix: str
) -> None:
    arm.state.fail_next("ResourceGroups_List", status, code, message)
    client = lookups.resources()
    with pytest.raises(raises) as info, azure_errors("listing groups"):
        list(client.resource_groups.list())
    assert code in info.value.problem and fix in info.value.fix
