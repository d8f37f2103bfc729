"""The offline catalog: CML/TPI sizes and zones, current GPUs, and every refusal that must
come before anything is created (no credentials, no network)."""

from __future__ import annotations

import json

import pytest

from cmlinfra.clouds.gcp import catalog, request
from cmlinfra.errors import UsageError
from tests.gcp_server.discovery import document

# terraform-provider-iterative's GCP tables (task/gcp/resources/resource_instance_template.go
# and task/gcp/client/client.go, read 2026-12): size -> machine type + accelerator * count
TPI_SIZES = {
    "s": ("g1-small", None, 0),
    "m": ("e2-custom-8-32768", None, 0),
    "l": ("e2-custom-32-131072", None, 0),
    "xl": ("n2-custom-64-262144", None, 0),
    "m+t4": ("n1-standard-4", "nvidia-tesla-t4", 1),
    "m+v100": ("custom-8-65536-ext", "nvidia-tesla-v100", 1),
    "l+v100": ("custom-32-262144-ext", "nvidia-tesla-v100", 4),
    "xl+v100": ("custom-64-524288-ext", "nvidia-tesla-v100", 8),
}
TPI_K80 = {"m+k80": ("custom-8-53248", 1), "l+k80": ("custom-32-131072", 4),
           "xl+k80": ("custom-64-212992-ext", 8)}  # fmt: skip
TPI_ZONES = {"us-east": "us-east1-c", "us-west": "us-west1-b", "eu-north": "europe-north1-a",
             "eu-west": "europe-west1-d"}  # fmt: skip


@pytest.mark.parametrize("size", sorted(TPI_SIZES))
def test_cml_sizes_map_as_terraform_provider_iterative_maps_them(size: str) -> None:
    spec = catalog.machine_spec(size)
    assert (spec.machine_type, spec.accelerator, spec.accelerator_count) == TPI_SIZES[size]
    assert spec.hourly_price and spec.hourly_price > 0


def test_k80_sizes_are_tpis_but_refused_as_retired() -> None:
    for size, (machine, count) in TPI_K80.items():
        assert catalog.TYPES[(size.split("+")[0], "k80")] == (machine, "nvidia-tesla-k80", count)
        with pytest.raises(UsageError, match="retired K80"):
            catalog.machine_spec(size)


@pytest.mark.parametrize(("alias", "zone"), sorted(TPI_ZONES.items()))
def test_cml_regions_are_tpis_zones(alias: str, zone: str) -> None:
    assert request.location(alias) == (zone.rsplit("-", 1)[0], zone)


def test_region_or_zone_and_the_default() -> None:
    assert request.location("europe-west4") == ("europe-west4", None)
    assert request.location("us-central1-a") == ("us-central1", "us-central1-a")
    assert request.location(None) == ("us-west1", "us-west1-b")  # CML's default us-west


@pytest.mark.parametrize(
    ("cloud_type", "gpu", "machine", "gpu_type", "count"),
    [
        ("m+l4", None, "g2-standard-8", "nvidia-l4", 1),
        ("xl+l4", None, "g2-standard-96", "nvidia-l4", 8),
        ("m", "a100", "a2-highgpu-1g", "nvidia-tesla-a100", 1),
        ("l+a100-80gb", None, "a2-ultragpu-4g", "nvidia-a100-80gb", 4),
        ("xl+h100", None, "a3-highgpu-8g", "nvidia-h100-80gb", 8),
        ("m", "tesla", "custom-8-65536-ext", "nvidia-tesla-v100", 1),
        ("g2-standard-24", None, "g2-standard-24", "nvidia-l4", 2),
        ("n1-standard-8", "t4", "n1-standard-8", "nvidia-tesla-t4", 1),  # TPI: raw + GPU -> 1
        ("n1-standard-8+nvidia-tesla-t4*2", None, "n1-standard-8", "nvidia-tesla-t4", 2),
    ],
)
def test_current_gpus(cloud_type: str, gpu: str | None, machine: str, gpu_type: str,
                      count: int) -> None:  # fmt: skip
    spec = catalog.machine_spec(cloud_type, gpu)
    assert (spec.machine_type, spec.gpu, spec.gpu_count) == (machine, gpu_type, count)
    builtin = not machine.startswith(("n1-", "custom-"))
    assert spec.accelerator == (None if builtin else gpu_type)  # only N1 attaches GPUs


@pytest.mark.parametrize(
    ("cloud_type", "gpu", "message"),
    [
        ("e2-standard-8", "t4", "e2-standard-8 cannot take attached GPUs: only N1"),
        ("n2-standard-8+nvidia-tesla-t4*1", None, "cannot take attached GPUs"),
        ("n1-standard-8", "l4", "comes built into g2-standard-* machine types"),
        ("n1-standard-8+nvidia-tesla-a100*1", None, "comes built into a2-highgpu-*"),
        ("a2-highgpu-1g", "t4", "comes with its own nvidia-tesla-a100"),
        ("n1-standard-4+nvidia-tesla-t4*3", None, "3 x nvidia-tesla-t4 is not a shape"),
        ("m+h100", None, "offered only as a Spot"),
        ("s+t4", None, "size 's' has no t4 GPU on Google Cloud"),
        ("m+t5", None, "unknown GPU 't5'"),
        ("mx", None, "unknown --cloud-type 'mx'"),
        ("m+t4", "v100", "disagree"),
        ("custom-8-65536", None, "add -ext"),
    ],
)
def test_impossible_machines_are_refused_offline(cloud_type: str, gpu: str | None,
                                                 message: str) -> None:  # fmt: skip
    with pytest.raises(UsageError) as err:
        catalog.machine_spec(cloud_type, gpu)
    assert message in f"{err.value.problem}; {err.value.fix}"


def test_h100_below_eight_runs_as_spot() -> None:
    assert catalog.machine_spec("m+h100", spot=True).machine_type == "a3-highgpu-1g"


def test_prices_include_attached_gpus_and_custom_rates() -> None:
    table = catalog.price_table()
    t4 = catalog.machine_spec("m+t4")
    assert t4.hourly_price == pytest.approx(
        table["types"]["n1-standard-4"]["price"] + table["gpus"]["nvidia-tesla-t4"]["price"]
    )
    m = catalog.machine_spec("m")  # e2-custom-8-32768: 8 vCPU, 32 GB at E2 custom rates
    rates = table["rates"]["e2"]
    assert m.hourly_price == pytest.approx(8 * rates["vcpu"] + 32 * rates["memory_gib"])
    v100 = catalog.machine_spec("m+v100")  # 64 GB on 8 vCPUs: 12 GB above N1's 6.5 GB/vCPU
    n1 = table["rates"]["n1"]
    expected = 8 * n1["vcpu"] + 52 * n1["memory_gib"] + 12 * n1["extended_memory_gib"] + 2.48
    assert v100.hourly_price == pytest.approx(expected)


def test_price_snapshot_is_dated_and_its_quota_metrics_exist() -> None:
    """Every GPU quota metric the catalog checks is one the Compute API reports."""
    table = catalog.price_table()
    assert table["as_of"] and table["source"] and table["currency"] == "USD"
    metrics = set(document("compute")["schemas"]["Quota"]["properties"]["metric"]["enum"])
    for accel, info in table["gpus"].items():
        for key in ("quota", "spot_quota"):
            if info.get(key):
                assert info[key] in metrics, (accel, info[key])
                if key == "quota":
                    assert f"PREEMPTIBLE_{info[key]}" in metrics
    json.dumps(table)


def test_regions_labels_disk_and_spot_price() -> None:
    with pytest.raises(UsageError, match="not a Google Cloud region or zone"):
        request.location("mars")
    assert request.labels({"team": "ML Ops/EU"}) == {"team": "ml_ops_eu"}
    with pytest.raises(UsageError, match="not a valid Google Cloud label key"):
        request.labels({"Team": "ml"})
    with pytest.raises(UsageError, match="out of range"):
        request.hdd_size(5)
    assert request.hdd_size(None) == 35
    with pytest.raises(UsageError, match="Spot VMs have no bid"):
        request.spot_price(0.5)
