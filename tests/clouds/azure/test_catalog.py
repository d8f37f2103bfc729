"""The offline catalog: CML/terraform-provider-iterative's Azure sizes and regions, exactly."""

from __future__ import annotations

import pytest

from cmlinfra.clouds.azure import catalog
from cmlinfra.errors import UsageError

# terraform-provider-iterative, iterative/azure/provider.go and task/az (getInstanceType,
# GetRegion): the table a `cml runner launch --cloud azure` workflow relies on
TPI_SIZES = {
    "s": "Standard_B1s",
    "m": "Standard_F8s_v2",
    "l": "Standard_F32s_v2",
    "xl": "Standard_F64s_v2",
    "m+t4": "Standard_NC4as_T4_v3",
    "m+k80": "Standard_NC6",
    "l+k80": "Standard_NC12",
    "xl+k80": "Standard_NC24",
    "m+v100": "Standard_NC6s_v3",
    "l+v100": "Standard_NC12s_v3",
    "xl+v100": "Standard_NC24s_v3",
}
TPI_REGIONS = {
    "us-east": "eastus",
    "us-west": "westus2",
    "eu-north": "northeurope",
    "eu-west": "westeurope",
}


@pytest.mark.parametrize(("cml", "azure"), sorted(TPI_SIZES.items()))
def test_cml_sizes_map_as_tpi_maps_them(cml: str, azure: str) -> None:
    assert catalog.size_spec(cml).vm_size == azure


@pytest.mark.parametrize(("cml", "azure"), sorted(TPI_REGIONS.items()))
def test_cml_regions_map_as_tpi_maps_them(cml: str, azure: str) -> None:
    assert catalog.location(cml) == azure


def test_default_region_is_cmls() -> None:
    assert catalog.location(None) == "westus2"


def test_gpu_option_and_current_gpus() -> None:
    assert catalog.size_spec("m", "t4").vm_size == "Standard_NC4as_T4_v3"
    assert catalog.size_spec("xl+a100").vm_size == "Standard_NC96ads_A100_v4"
    assert catalog.size_spec("m+a10").vm_size == "Standard_NV36ads_A10_v5"
    h100 = catalog.size_spec("xl+h100")
    assert (h100.vm_size, h100.gpu_count, h100.gpu) == ("Standard_ND96isr_H100_v5", 8, "h100")
    assert catalog.size_spec("m", "tesla").vm_size == "Standard_NC6s_v3"  # CML's alias


def test_raw_sizes_are_canonicalized_and_unknown_ones_pass_to_the_api() -> None:
    spec = catalog.size_spec("standard_nc24ads_a100_v4")
    assert (spec.vm_size, spec.gpu, spec.hourly_price) == (
        "Standard_NC24ads_A100_v4",
        "a100",
        3.673,
    )
    new = catalog.size_spec("Standard_ND128isr_NDR_GB200_v6")
    assert new.vm_size == "Standard_ND128isr_NDR_GB200_v6" and new.hourly_price is None


def test_retired_series_keep_their_cml_meaning_with_a_date() -> None:
    assert catalog.size_spec("m+k80").retired == "2023-09-06"
    assert catalog.size_spec("m+t4").retired is None


@pytest.mark.parametrize(
    ("cloud_type", "gpu", "message"),
    [
        ("xl+t4", None, "size 'xl' has no t4 GPU on Azure"),
        ("s+a100", None, "size 's' has no a100 GPU on Azure"),
        ("m+t4", "v100", "disagree"),
        ("mm", None, "unknown --cloud-type 'mm'"),
        ("g4dn.xlarge", None, "unknown --cloud-type"),
        ("Standard_NC4as_T4_v3", "t4", "cannot be combined"),
        ("m", "b200", "unknown GPU 'b200'"),
    ],
)
def test_bad_sizes_are_one_line_errors(cloud_type: str, gpu: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        catalog.size_spec(cloud_type, gpu)


def test_locations() -> None:
    assert catalog.location("West Europe") == "westeurope"
    assert catalog.location("swedencentral") == "swedencentral"
    with pytest.raises(UsageError, match="unknown Azure location 'westus9'") as info:
        catalog.location("westus9")
    assert "did you mean 'westus" in info.value.fix
    with pytest.raises(UsageError, match="unknown Azure location 'us-east-1'"):
        catalog.location("us-east-1")  # an AWS region is not an Azure location


def test_images() -> None:
    default = catalog.image_choice(None, None)
    assert default.urn == ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest")
    assert default.user == "ubuntu" and default.generation == "V2"
    gpu = catalog.image_choice(None, "t4")
    assert gpu.urn is not None and gpu.urn[:2] == ("microsoft-dsvm", "ubuntu-hpc")
    assert gpu.min_disk_gb == 64
    tpi = catalog.image_choice("ml@Canonical:0001-com-ubuntu-server-focal:20_04-lts:latest", None)
    assert tpi.user == "ml" and tpi.urn == (
        "Canonical", "0001-com-ubuntu-server-focal", "20_04-lts", "latest"
    )  # fmt: skip
    ours = (
        "/subscriptions/00000000-0000-4000-8000-0000000000a2/resourceGroups/cmlinfra-images/"
        "providers/Microsoft.Compute/images/cml-gpu"
    )
    assert catalog.image_choice(ours, "t4").image_id == ours
    for bad, message in [
        ("ubuntu", "is not an Azure image"),
        ("/subscriptions/x/images/y", "not the id of a managed or gallery image"),
        ("root@Canonical:a:b:latest", "cannot be the login user"),
    ]:
        with pytest.raises(UsageError, match=message):
            catalog.image_choice(bad, None)


def test_disk_tags_and_spot_bid() -> None:
    assert catalog.hdd_size(None) == 35
    assert catalog.hdd_size(None, minimum=64) == 64  # never below the image
    with pytest.raises(UsageError, match="out of range"):
        catalog.hdd_size(40, minimum=64)
    with pytest.raises(UsageError, match="out of range"):
        catalog.hdd_size(5000)
    assert catalog.tags({"team": "ml"}) == {"team": "ml"}
    for key in ("a/b", "a?b", "microsoft.x", "x" * 513):
        with pytest.raises(UsageError):
            catalog.tags({key: "v"})
    assert catalog.max_bid(False, None) is None
    assert catalog.max_bid(True, None) == -1.0  # CML's -1: up to the pay-as-you-go price
    assert catalog.max_bid(True, 0.1234567) == 0.12346


def test_price_table_is_dated_and_complete() -> None:
    table = catalog.price_table()
    assert table["as_of"] and table["region"] == "eastus" and table["currency"] == "USD"
    assert set(catalog.TYPES.values()) <= set(table["sizes"])
    for size in table["sizes"].values():
        assert size["price"] > 0 and size["vcpus"] > 0
