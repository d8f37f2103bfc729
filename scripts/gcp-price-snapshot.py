#!/usr/bin/env python3
"""Refresh cmlinfra/clouds/gcp/data/machine-types.json from the Cloud Billing Catalog API.

Why: the committed snapshot (on-demand USD/hour in one region, per machine type, per attached
GPU, and the custom-type vCPU/memory rates) was transcribed by hand; prices change. This reads
Compute Engine's public SKUs (service 6F81-5844-456A) with google-api-python-client — built
from the cloudbilling v1 discovery document it ships — keeps the on-demand SKUs of REGION, maps
their descriptions ("N1 Predefined Instance Core running in Americas", "Nvidia Tesla T4 GPU
running in Americas"…) to per-family core, RAM and GPU rates, and recomputes every price of the
snapshot from them (shapes stay as they are). Types whose family it cannot price keep their old
price and are listed on stderr.

Usage (an API key suffices for the public catalog; ADC works too):

    CLOUDBILLING_API_KEY=... python scripts/gcp-price-snapshot.py [--region us-central1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "cmlinfra" / "clouds" / "gcp" / "data" / "machine-types.json"
COMPUTE_SERVICE = "services/6F81-5844-456A"
# SKU description (without " running in …") -> (family, what)
RATES = [
    (r"^E2 Instance Core", ("e2", "vcpu")),
    (r"^E2 Instance Ram", ("e2", "memory_gib")),
    (r"^N1 Predefined Instance Core", ("n1-predefined", "vcpu")),
    (r"^N1 Predefined Instance Ram", ("n1-predefined", "memory_gib")),
    (r"^Custom Instance Core", ("n1", "vcpu")),
    (r"^Custom Instance Ram", ("n1", "memory_gib")),
    (r"^Custom Extended Instance Ram", ("n1", "extended_memory_gib")),
    (r"^N2 Instance Core", ("n2-predefined", "vcpu")),
    (r"^N2 Instance Ram", ("n2-predefined", "memory_gib")),
    (r"^N2 Custom Instance Core", ("n2", "vcpu")),
    (r"^N2 Custom Instance Ram", ("n2", "memory_gib")),
    (r"^N2 Custom Extended Instance Ram", ("n2", "extended_memory_gib")),
    (r"^G2 Instance Core", ("g2", "vcpu")),
    (r"^G2 Instance Ram", ("g2", "memory_gib")),
    (r"^A2 Instance Core", ("a2", "vcpu")),
    (r"^A2 Instance Ram", ("a2", "memory_gib")),
    (r"^A3 Instance Core", ("a3", "vcpu")),
    (r"^A3 Instance Ram", ("a3", "memory_gib")),
    (r"^Small Instance with 1 VCPU", ("g1-small", "instance")),
    (r"^Nvidia Tesla T4 GPU", ("nvidia-tesla-t4", "gpu")),
    (r"^Nvidia Tesla V100 GPU", ("nvidia-tesla-v100", "gpu")),
    (r"^Nvidia Tesla P4 GPU", ("nvidia-tesla-p4", "gpu")),
    (r"^Nvidia Tesla P100 GPU", ("nvidia-tesla-p100", "gpu")),
    (r"^Nvidia Tesla K80 GPU", ("nvidia-tesla-k80", "gpu")),
    (r"^Nvidia L4 GPU", ("nvidia-l4", "gpu")),
    (r"^Nvidia Tesla A100 GPU", ("nvidia-tesla-a100", "gpu")),
    (r"^Nvidia Tesla A100 80GB GPU", ("nvidia-a100-80gb", "gpu")),
    (r"^Nvidia H100 80GB GPU", ("nvidia-h100-80gb", "gpu")),
]


def unit_price(sku: dict[str, Any]) -> float | None:
    """The last tier's USD price per usage unit of the SKU's current pricing."""
    for info in sku.get("pricingInfo", [])[-1:]:
        tiers = info.get("pricingExpression", {}).get("tieredRates", [])
        if tiers:
            money = tiers[-1]["unitPrice"]
            return int(money.get("units", "0")) + money.get("nanos", 0) / 1e9
    return None


def rates_from_skus(skus: list[dict[str, Any]], region: str) -> dict[tuple[str, str], float]:
    """(family, what) -> USD/hour (per vCPU, per GiB, per GPU, per instance) in ``region``."""
    rates: dict[tuple[str, str], float] = {}
    for sku in skus:
        if region not in sku.get("serviceRegions", []):
            continue
        if sku.get("category", {}).get("usageType") != "OnDemand":
            continue
        text = sku.get("description", "")
        if re.search(r"\b(Commitment|Preemptible|Spot|Sole Tenancy|DWS|Reserved)\b", text):
            continue
        for pattern, key in RATES:
            if re.match(pattern, text) and (price := unit_price(sku)) is not None:
                rates.setdefault(key, price)
    return rates


def reprice(table: dict[str, Any], rates: dict[tuple[str, str], float]) -> list[str]:
    """Recompute the snapshot's prices in place; returns the types left as they were."""
    for fam in ("e2", "n1", "n2"):
        for what in ("vcpu", "memory_gib", "extended_memory_gib"):
            if (fam, what) in rates and what in table["rates"][fam]:
                table["rates"][fam][what] = round(rates[(fam, what)], 6)
    for accel, info in table["gpus"].items():
        if (accel, "gpu") in rates and info.get("price") is not None:
            info["price"] = round(rates[(accel, "gpu")], 6)
    stale = []
    for name, info in table["types"].items():
        head = name.split("-", 1)[0]
        fam = {"n1": "n1-predefined", "n2": "n2-predefined"}.get(head, head)
        core, ram = rates.get((fam, "vcpu")), rates.get((fam, "memory_gib"))
        if name == "g1-small" and ("g1-small", "instance") in rates:
            info["price"] = round(rates[("g1-small", "instance")], 6)
        elif core is not None and ram is not None:
            price = info["vcpus"] * core + info["memory_gib"] * ram
            if info.get("gpu"):
                gpu = rates.get((info["gpu"], "gpu"))
                if gpu is None:
                    stale.append(name)
                    continue
                price += info["gpu_count"] * gpu
            info["price"] = round(price, 6)
        else:
            stale.append(name)
    return stale


def fetch_skus(api_key: str | None) -> list[dict[str, Any]]:
    import google.auth
    from googleapiclient.discovery import build

    if api_key:
        billing = build("cloudbilling", "v1", developerKey=api_key, static_discovery=True)
    else:
        credentials, _ = google.auth.default()
        billing = build("cloudbilling", "v1", credentials=credentials, static_discovery=True)
    skus: list[dict[str, Any]] = []
    request = billing.services().skus().list(parent=COMPUTE_SERVICE, currencyCode="USD")
    while request is not None:
        page = request.execute()
        skus += page.get("skus", [])
        request = billing.services().skus().list_next(request, page)
    return skus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--region", default="us-central1")
    parser.add_argument("--skus", type=Path, help="a saved skus.list answer instead of the API")
    args = parser.parse_args()
    table = json.loads(SNAPSHOT.read_text())
    if args.skus:
        skus = json.loads(args.skus.read_text())["skus"]
    else:
        skus = fetch_skus(os.environ.get("CLOUDBILLING_API_KEY"))
    stale = reprice(table, rates_from_skus(skus, args.region))
    table["region"] = args.region
    table["as_of"] = datetime.now(UTC).strftime("%Y-%m")
    table["source"] = (
        f"Cloud Billing Catalog API ({COMPUTE_SERVICE}, on-demand SKUs of {args.region}), "
        "read by scripts/gcp-price-snapshot.py"
    )
    SNAPSHOT.write_text(json.dumps(table, indent=2) + "\n")
    if stale:
        print(f"kept the old price of: {', '.join(stale)}", file=sys.stderr)
    print(f"wrote {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
