#!/usr/bin/env python3
"""Refresh the Azure pay-as-you-go prices in cmlinfra/clouds/azure/data/vm-sizes.json.

Source: the Azure Retail Prices API (public, no credentials:
https://prices.azure.com/api/retail/prices), one query per size of the table, for the table's
region. A Linux on-demand hourly price is the item whose ``type`` is ``Consumption``, whose
``unitOfMeasure`` is ``1 Hour``, whose ``productName`` does not say Windows and whose
``skuName`` does not say Spot or Low Priority. Sizes the API has no such price for (retired
series) keep their old price and are listed on stderr. The table's ``as_of`` becomes today.

Usage: ``scripts/azure-prices.py [--region eastus] [--endpoint URL] [--out FILE]``
(``--endpoint`` serves the tests' local copy of the API; run it where there is network).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "cmlinfra" / "clouds" / "azure" / "data" / "vm-sizes.json"
ENDPOINT = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"


def items(endpoint: str, region: str, size: str) -> list[dict[str, Any]]:
    """Every price item of ``size`` in ``region``, following ``NextPageLink``."""
    query = (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and "
        f"armRegionName eq '{region}' and armSkuName eq '{size}'"
    )
    url: str | None = (
        f"{endpoint}?{urllib.parse.urlencode({'api-version': API_VERSION, '$filter': query})}"
    )
    found: list[dict[str, Any]] = []
    while url:
        with urllib.request.urlopen(url, timeout=60) as response:
            page = json.load(response)
        found += page.get("Items", [])
        url = page.get("NextPageLink")
    return found


def linux_on_demand(found: list[dict[str, Any]]) -> float | None:
    prices = [
        float(i["retailPrice"])
        for i in found
        if i.get("type") == "Consumption"
        and i.get("unitOfMeasure") == "1 Hour"
        and "windows" not in i.get("productName", "").lower()
        and not any(w in i.get("skuName", "") for w in ("Spot", "Low Priority"))
    ]
    return min(prices) if prices else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TABLE)
    parser.add_argument("--endpoint", default=ENDPOINT)
    parser.add_argument("--region", default=None, help="default: the table's own region")
    args = parser.parse_args()
    table = json.loads(TABLE.read_text())
    region = args.region or table["region"]
    missing = []
    for size, known in table["sizes"].items():
        price = linux_on_demand(items(args.endpoint, region, size))
        if price is None:
            missing.append(size)
        else:
            known["price"] = price
    table["region"] = region
    table["as_of"] = datetime.now(UTC).strftime("%Y-%m-%d")
    table["source"] = (
        f"Azure Retail Prices API ({args.endpoint}), Linux pay-as-you-go in {region}, fetched "
        f"{table['as_of']} by scripts/azure-prices.py; vCPU, memory and GPU figures from the "
        "size series pages."
    )
    args.out.write_text(json.dumps(table, indent=2) + "\n")
    if missing:
        print(f"no Linux on-demand price for: {', '.join(missing)} (kept)", file=sys.stderr)
    print(f"wrote {args.out}: {len(table['sizes']) - len(missing)} prices as of {table['as_of']}")


if __name__ == "__main__":
    main()
