"""The Azure cloud's harness: Azure Resource Manager is the local fake (tests/fixtures/azure.py)
whose every request and response is validated against Microsoft's REST specifications.
Machines are planted through the Azure SDK as Terraform would leave them: a resource group
tagged like the stacks tag theirs, holding a VM (its PUT validated against the Compute
specification). The azurerm provider cannot be installed here, so the rendered stack is
checked against the modules' interfaces (tests/clouds/azure/ checks the provider schema).

The error texts are Azure's own, as users met them through Terraform's azurerm provider, the
Azure SDKs and the portal, each with the public issue that quotes it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.images import AzureImages
from cmlinfra.clouds.azure.options import SUBNET
from cmlinfra.clouds.azure.tags import EXPIRES_TAG, ROLE_TAG, STACK_TAG
from cmlinfra.clouds.base import ErrorKind, MachineRequest, SweepScope
from tests.clouds.azure.conftest import KEYS, SERIAL_LOG
from tests.clouds.contract.kit import ErrorSample, Harness
from tests.fixtures.azure import Arm
from tests.fixtures.moto import free_port

GH = "https://github.com"
ERRORS = [
    ErrorSample(
        'Error: creating Linux Virtual Machine (Subscription: "<subscription>" Resource Group '
        'Name: "rg" Virtual Machine Name: "adds1"): performing CreateOrUpdate: unexpected '
        "status 409 (409 Conflict) with error: SkuNotAvailable: The requested VM size for "
        "resource 'Following SKUs have failed for Capacity Restrictions: Standard_B2s' is "
        "currently not available in location 'eastus'. Please try another size or deploy to a "
        "different location or different zone. See https://aka.ms/azureskunotavailable for "
        "details.",
        ErrorKind.CAPACITY,
        f"{GH}/Azure-Samples/azuresandbox/issues/70 (terraform-provider-azurerm)",
    ),
    ErrorSample(
        'failed to create VM: Code="AllocationFailed" Message="Allocation failed. We do not '
        "have sufficient capacity for the requested VM size in this region. Read more about "
        'improving likelihood of allocation success at http://aka.ms/allocation-guidance"',
        ErrorKind.CAPACITY,
        f"{GH}/vmware-tanzu/community-edition/issues/3963 (Azure SDK for Go)",
    ),
    ErrorSample(
        "Azure.RequestFailedException: 'Operation could not be completed as it results in "
        "exceeding approved Total Regional Cores quota. Additional details - Deployment Model: "
        "Resource Manager, Location: centralus, Current Limit: 10, Current Usage: 8, Additional "
        "Required: 4, (Minimum) New Limit Required: 12.\nStatus: 409 (Conflict)\nErrorCode: "
        "OperationNotAllowed",
        ErrorKind.QUOTA,
        f"{GH}/nforgeio/neonKUBE/issues/1671 (Azure SDK for .NET)",
    ),
    ErrorSample(
        'Status=409 Code="OperationNotAllowed" Message="Operation results in exceeding quota '
        'limits of Core. Maximum allowed: 20, Current in use: 20, Additional requested: 2."',
        ErrorKind.QUOTA,
        f"{GH}/hashicorp/terraform/issues/10056 (terraform-provider-azurerm, autorest)",
    ),
    ErrorSample(
        'Status=200 Code="OperationNotAllowed" Message="Code="OperationNotAllowed" '
        "Message=\"Unable to perform operation 'Create Virtual Machine Scale Set' since the "
        "provided max price '0.03207 USD' is lower than the current spot price '0.032077 USD' "
        "for Azure Spot VM size 'Standard_D4as_v6'. For more information, see "
        'http://aka.ms/AzureSpot/errormessages.""',
        ErrorKind.SPOT_PRICE,
        f"{GH}/redhat-developer/mapt/issues/548 (Pulumi azure-native)",
    ),
    ErrorSample(
        "not enough standardNCASv3_T4Family vCPUs quota in eastus for Standard_NC4as_T4_v3: 0 "
        "of 0 vCPUs in use, 4 more needed; ask Azure for more (portal: Quotas > Compute), or "
        "choose another --cloud-region or --cloud-type",
        ErrorKind.QUOTA,
        "cmlinfra/clouds/azure/lookups.py check_quota(), against the ARM fake's Usage_List",
    ),
    ErrorSample(
        "no Azure credentials found; run azure/login (OIDC) or 'az login', or set "
        "AZURE_CLIENT_ID/AZURE_TENANT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE,"
        " or use a managed identity",
        ErrorKind.AUTH,
        "cmlinfra/clouds/azure/errors.py for azure-identity's CredentialUnavailableError",
    ),
    ErrorSample(
        "(InvalidAuthenticationToken) The access token is invalid.\nCode: "
        "InvalidAuthenticationToken\nMessage: The access token is invalid.",
        ErrorKind.AUTH,
        "azure-core's HttpResponseError text for ARM's 401, as the SDK prints it",
    ),
    ErrorSample(
        "(TooManyRequests) The request is being throttled as the limit has been reached for "
        "operation type - Read_ObservationWindow_00:05:00.",
        ErrorKind.TRANSIENT,
        "ARM's throttling error as the Python SDK prints it",
    ),
    ErrorSample(
        'Error: Unsupported argument\n  on main.tf line 6, in module "runner":\n   6:   '
        'max_bid = -1\nAn argument named "max_bid" is not expected here.',
        ErrorKind.BAD_REQUEST,
        "terraform 1.11.4 validate here, 2026-12-04, on a misspelt module argument",
    ),
]


def _stamp(expires: float | None) -> dict[str, str]:
    if expires is None:
        return {}
    return {EXPIRES_TAG: datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def plant_vm(stack: str, tags: dict[str, str]) -> str:
    """A runner's group and VM, made through the Azure SDK; returns the VM's id."""
    from azure.mgmt.compute.models import (
        HardwareProfile,
        ImageReference,
        LinuxConfiguration,
        NetworkInterfaceReference,
        NetworkProfile,
        OSProfile,
        StorageProfile,
        VirtualMachine,
    )

    sub = lookups.subscription_id()
    lookups.resources().resource_groups.create_or_update(
        stack, {"location": "eastus", "tags": tags}
    )
    group = f"/subscriptions/{sub}/resourceGroups/{stack}"
    nic = f"{group}/providers/Microsoft.Network/networkInterfaces/{stack}-nic"
    vm = VirtualMachine(
        location="eastus",
        tags=tags,
        hardware_profile=HardwareProfile(vm_size="Standard_NC4as_T4_v3"),
        storage_profile=StorageProfile(
            image_reference=ImageReference(
                publisher="Canonical",
                offer="0001-com-ubuntu-server-jammy",
                sku="22_04-lts-gen2",
                version="latest",
            )
        ),
        os_profile=OSProfile(
            computer_name=stack,
            admin_username="ubuntu",
            linux_configuration=LinuxConfiguration(disable_password_authentication=True),
        ),
        network_profile=NetworkProfile(network_interfaces=[NetworkInterfaceReference(id=nic)]),
        priority="Spot",
        eviction_policy="Delete",
    )
    created = (
        lookups.compute()
        .virtual_machines.begin_create_or_update(
            stack, stack, vm, api_version=lookups.API_VERSIONS["compute"]
        )
        .result()
    )
    return str(created.id)


@pytest.fixture(scope="module")
def azure_harness(arm_server: Arm) -> Iterator[Harness]:
    prefix = f"cmla-{secrets.token_hex(2)}-"
    arm_server.server.reset()
    env = {**arm_server.env, "CMLINFRA_AZURE_HOST_KEY_WAIT": "0"}

    def plant(stack: str, role: str, expires: float | None) -> str:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            plant_vm(stack, {STACK_TAG: stack, ROLE_TAG: role, **_stamp(expires)})
        return stack  # the machine gc deletes is the runner's resource group

    def plant_image(name: str) -> str:
        stack = f"{prefix}img"
        vm_id = plant_vm(stack, {STACK_TAG: stack, ROLE_TAG: "image-builder"})
        return AzureImages().publish(vm_id, name, {"cmlinfra.steps": "detect"})

    def address_case() -> tuple[dict[str, object], tuple[str, ...]]:
        vm = arm_server.state.add_vm(f"{prefix}addr", f"{prefix}addr", serial_log=SERIAL_LOG)
        outputs = {"address": "198.51.100.4", "instance_id": vm["id"], "ssh_user": "ubuntu"}
        return {**outputs, "ssh_port": 22}, KEYS[::-1]  # in the order cloud-init printed them

    def request(**kw: object) -> MachineRequest:
        base = {"name": f"{prefix}render", "cloud_type": "m+t4", "region": "us-east"}
        return MachineRequest(**{**base, "ssh_cidr": "203.0.113.9/32", **kw})  # type: ignore[arg-type]

    yield Harness(
        cloud="azure",
        prefix=prefix,
        request=request(),
        bad=[
            (request(hdd_size_gb=40), "--cloud-hdd-size 40 is out of range"),  # the GPU image
            (request(region="mars"), "unknown Azure location 'mars'"),
            (request(options={SUBNET.flag: "subnet-1"}), "--cloud-azure-subnet 'subnet-1'"),
            (request(spot_price=0.3), "--cloud-spot-price needs --cloud-spot"),
            (request(cloud_type="xl+t4"), "size 'xl' has no t4 GPU on Azure"),
        ],
        inject=lambda text: request(name=f"{prefix}inject", metadata={"note": text}),
        errors=ERRORS,
        plant=plant,
        scope=SweepScope(),
        image_region="eastus",
        plant_image=plant_image,
        terraform_validates=False,  # no azurerm provider binary here
        address_case=address_case,
        env=env,
        down={"CMLINFRA_AZURE_ARM_ENDPOINT": f"https://127.0.0.1:{free_port()}"},
    )
    violations = arm_server.state.violations
    assert violations == [], "\n".join(violations)
