"""resolve() and address() against the local Azure Resource Manager: every refusal is one
line with its fix, and a refused request creates nothing (no write reaches ARM)."""

from __future__ import annotations

import pytest

from cmlinfra.clouds.azure.cloud import AzureCloud
from cmlinfra.clouds.azure.options import SUBNET
from cmlinfra.clouds.base import MachineRequest
from cmlinfra.errors import CmlinfraError, UsageError
from tests.clouds.azure.conftest import KEYS, SERIAL_LOG
from tests.fixtures.azure import Arm

CIDR = "203.0.113.9/32"
WRITES = ("PUT", "POST", "DELETE", "PATCH")


def request(**kwargs: object) -> MachineRequest:
    values: dict = {"name": "cml-az", "cloud_type": "m+t4", "region": "us-east", "ssh_cidr": CIDR}
    return MachineRequest(**{**values, **kwargs})


def no_writes(arm: Arm) -> None:
    writes = [r for r in arm.state.requests if r[0] in WRITES]
    assert writes == [], "a refused request must create nothing"


def test_resolve_checks_size_quota_and_renders_custom_data(arm: Arm) -> None:
    machine = AzureCloud().resolve(request(spot=True, metadata={"team": "ml"}))
    assert (machine.instance_type, machine.region) == ("Standard_NC4as_T4_v3", "eastus")
    assert (machine.vcpus, machine.gpu_count, machine.gpu) == (4, 1, "t4")
    assert machine.hourly_price == 0.526  # -1 bid: up to the pay-as-you-go price
    extra = machine.extra
    assert extra["subscription_id"] == arm.state.subscription
    assert extra["max_bid_price"] == -1.0 and extra["family"] == "standardNCASv3_T4Family"
    assert extra["image_urn"][1] == "ubuntu-hpc" and extra["hdd_size_gb"] == 64
    assert "azure-end-machine" in extra["custom_data"]
    assert arm.called() == ["ResourceSkus_List", "Usage_List"]
    no_writes(arm)


def test_the_launchers_address_becomes_the_ssh_rule(arm: Arm, echo_ip: str) -> None:
    machine = AzureCloud().resolve(request(ssh_cidr=None))
    assert machine.extra["ssh_cidr"] == "203.0.113.9/32"


def test_a_spot_bid_is_the_price_shown(arm: Arm) -> None:
    machine = AzureCloud().resolve(request(spot=True, spot_price=0.2))
    assert machine.extra["max_bid_price"] == 0.2 and machine.hourly_price == 0.2


@pytest.mark.parametrize(
    ("setup", "kwargs", "message"),
    [
        (None, {"cloud_type": "m+k80"}, "Standard_NC6 is not offered in eastus (Azure retired"),
        (
            lambda s: s.restrict("eastus", "Standard_NC24ads_A100_v4"),
            {"cloud_type": "m+a100"},
            "Standard_NC24ads_A100_v4 is restricted for this subscription in eastus "
            "(NotAvailableForSubscription)",
        ),
        (
            lambda s: s.set_quota("eastus", "standardNCASv3_T4Family", 0, 0),
            {},
            "not enough standardNCASv3_T4Family vCPUs quota in eastus",
        ),
        (
            lambda s: s.set_quota("eastus", "cores", 348, 350),
            {},
            "not enough Total Regional vCPUs quota in eastus",
        ),
        (
            lambda s: s.set_quota("eastus", "lowPriorityCores", 98, 100),
            {"spot": True},
            "not enough Total Regional Spot vCPUs quota",
        ),
        (None, {"region": "swedencentral"}, "is not offered in swedencentral"),
    ],
)
def test_refusals_before_anything_is_created(arm: Arm, setup, kwargs, message: str) -> None:  # type: ignore[no-untyped-def]
    if setup:
        setup(arm.state)
    with pytest.raises(CmlinfraError) as info:
        AzureCloud().resolve(request(**kwargs))
    assert message in info.value.line(), info.value.line()
    assert "\n" not in info.value.line()
    no_writes(arm)


def test_no_subscription(arm: Arm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    with pytest.raises(CmlinfraError, match="no Azure subscription") as info:
        AzureCloud().resolve(request())
    assert "AZURE_SUBSCRIPTION_ID" in info.value.fix
    assert arm.state.requests == []


def test_no_credentials(arm: Arm, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no Azure CLI or token cache of the user's
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # and no az/azd/pwsh
    # the environment credential only: a managed identity would probe 169.254.169.254
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")
    with pytest.raises(CmlinfraError, match="no Azure credentials found") as info:
        AzureCloud().check_reachable()
    assert "azure/login" in info.value.fix
    assert arm.state.requests == []


def test_a_bad_token_is_refused(arm: Arm) -> None:
    arm.state.issued = "a-token-of-another-tenant"
    with pytest.raises(CmlinfraError, match="Azure refused the credentials"):
        AzureCloud().check_reachable()


def test_unreachable_endpoint(arm: Arm, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures.moto import free_port

    dead = f"https://127.0.0.1:{free_port()}"
    monkeypatch.setenv("CMLINFRA_AZURE_ARM_ENDPOINT", dead)
    with pytest.raises(CmlinfraError, match=f"cannot reach Azure Resource Manager at {dead}"):
        AzureCloud().check_reachable()


def test_offline_checks_need_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    cloud = AzureCloud()
    for kwargs, message in [
        ({"name": "CML_1"}, "not usable on Azure"),
        ({"region": "mars"}, "unknown Azure location"),
        ({"ssh_cidr": "0.0.0.0/0"}, "opens SSH to the whole internet"),
        ({"permission_set": "arn:aws:iam::1:instance-profile/x"}, "not a user-assigned identity"),
        ({"metadata": {"a?b": "c"}}, "not a valid Azure tag name"),
        ({"hdd_size_gb": 20}, "out of range"),
        ({"spot_price": 0.3}, "--cloud-spot-price needs --cloud-spot"),
        ({"max_ttl_seconds": 60}, "too short"),
    ]:
        with pytest.raises(UsageError, match=message):
            cloud.validate(request(**kwargs))


def test_image_by_id_must_exist(arm: Arm) -> None:
    image = (
        f"/subscriptions/{arm.state.subscription}/resourceGroups/cmlinfra-images/providers/"
        "Microsoft.Compute/images/cml-gpu"
    )
    with pytest.raises(UsageError, match=r"image .*cml-gpu does not exist"):
        AzureCloud().resolve(request(image=image))
    arm.state.add_group("cmlinfra-images", "eastus", {})
    arm.state.add_resource(
        {"id": image, "name": "cml-gpu", "type": "Microsoft.Compute/images",
         "location": "eastus", "tags": {"cmlinfra:image": "cml-gpu"}, "properties": {}}
    )  # fmt: skip
    machine = AzureCloud().resolve(request(image=image))
    assert machine.extra["image_id"] == image and machine.extra["image_urn"] is None
    assert machine.extra["hdd_size_gb"] == 35


def test_an_existing_subnet(arm: Arm, monkeypatch: pytest.MonkeyPatch) -> None:
    subnet = arm.state.add_subnet("shared-net", "vnet", "runners", "westeurope")
    given = {SUBNET.flag: subnet}
    with pytest.raises(UsageError, match="subnet runners is in westeurope, the runner in eastus"):
        AzureCloud().resolve(request(options=given))
    machine = AzureCloud().resolve(request(region="eu-west", options=given))
    assert machine.extra["subnet_id"] == subnet
    monkeypatch.setenv("CMLINFRA_AZURE_SUBNET_ID", subnet.replace("runners", "gone"))
    with pytest.raises(UsageError, match=r"does not exist; check \$CMLINFRA_AZURE_SUBNET_ID"):
        AzureCloud().resolve(request(region="eu-west"))
    with pytest.raises(UsageError, match="--cloud-azure-subnet 'subnet-1' is not a subnet id"):
        AzureCloud().validate(request(options={SUBNET.flag: "subnet-1"}))


def test_address_reads_host_keys_from_the_serial_log(arm: Arm) -> None:
    vm = arm.state.add_vm("cml-az", "cml-az", serial_log=SERIAL_LOG)
    outputs = {"address": "198.51.100.4", "instance_id": vm["id"], "ssh_user": "ubuntu",
               "ssh_port": 22}  # fmt: skip
    address = AzureCloud(host_key_wait_s=0).address(outputs)
    assert (address.host, address.user, address.port) == ("198.51.100.4", "ubuntu", 22)
    assert set(address.host_keys) == set(KEYS)
    assert arm.called() == ["VirtualMachines_RetrieveBootDiagnosticsData"]


def test_no_host_keys_yet_gives_none(arm: Arm) -> None:
    """A log not written yet: no keys, and the caller refuses to connect (never TOFU)."""
    vm = arm.state.add_vm("cml-az", "cml-az")
    outputs = {"address": "198.51.100.4", "vm_id": vm["id"], "ssh_user": "ubuntu", "ssh_port": 22}
    assert AzureCloud(host_key_wait_s=0).address(outputs).host_keys == ()


def test_outputs_of_another_stack_are_refused() -> None:
    with pytest.raises(CmlinfraError, match="outputs lack"):
        AzureCloud().address({"address": "x", "ssh_user": "u", "ssh_port": 22})
