"""scripts/gcp-price-snapshot.py on SKUs shaped exactly as the Cloud Billing Catalog API
answers (each checked against the cloudbilling v1 discovery document), without a network."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.gcp import catalog
from tests.gcp_server.discovery import Api

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def script() -> Any:
    spec = importlib.util.spec_from_file_location("price", ROOT / "scripts/gcp-price-snapshot.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sku(description: str, price: float, unit: str = "h", region: str = "us-central1",
        usage: str = "OnDemand") -> dict[str, Any]:  # fmt: skip
    units, nanos = int(price), round((price - int(price)) * 1e9)
    return {
        "name": f"services/6F81-5844-456A/skus/{abs(hash(description)) % 10**8}",
        "skuId": "0000-0000-0000",
        "description": f"{description} running in Americas",
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                     "resourceGroup": "CPU", "usageType": usage},
        "serviceRegions": [region],
        "pricingInfo": [{
            "effectiveTime": "2026-12-01T00:00:00Z",
            "pricingExpression": {
                "usageUnit": unit, "displayQuantity": 1, "baseUnitConversionFactor": 3600,
                "tieredRates": [{"startUsageAmount": 0,
                                 "unitPrice": {"currencyCode": "USD", "units": str(units),
                                               "nanos": nanos}}],
            },
        }],
    }  # fmt: skip


SKUS = [
    sku("N1 Predefined Instance Core", 0.03),
    sku("N1 Predefined Instance Ram", 0.004, "GiBy.h"),
    sku("N1 Predefined Instance Core", 0.006, usage="Preemptible"),
    sku("Commitment v1: N1 Predefined Instance Core", 0.02),
    sku("N1 Predefined Instance Core", 0.05, region="europe-west4"),
    sku("Custom Instance Core", 0.04),
    sku("Nvidia Tesla T4 GPU", 0.4),
    sku("G2 Instance Core", 0.025),
    sku("G2 Instance Ram", 0.003, "GiBy.h"),
    sku("Nvidia L4 GPU", 0.6),
]


def test_fixture_matches_the_catalog_api() -> None:
    api = Api("cloudbilling")
    method = next(m for m in api.methods if m.id == "cloudbilling.services.skus.list")
    api.check_response(method, {"skus": SKUS, "nextPageToken": ""})


def test_reprice(script: Any) -> None:
    table = copy.deepcopy(catalog.price_table())
    rates = script.rates_from_skus(SKUS, "us-central1")
    assert rates[("n1-predefined", "vcpu")] == pytest.approx(0.03)  # not spot/commitment/eu
    stale = script.reprice(table, rates)
    assert table["types"]["n1-standard-4"]["price"] == pytest.approx(4 * 0.03 + 15 * 0.004)
    assert table["types"]["g2-standard-8"]["price"] == pytest.approx(8 * 0.025 + 32 * 0.003 + 0.6)
    assert table["gpus"]["nvidia-tesla-t4"]["price"] == pytest.approx(0.4)
    assert table["rates"]["n1"]["vcpu"] == pytest.approx(0.04)
    assert "a2-highgpu-1g" in stale and "n1-standard-4" not in stale
    assert table["types"]["a2-highgpu-1g"] == catalog.price_table()["types"]["a2-highgpu-1g"]
