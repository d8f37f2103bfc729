"""scripts/azure-prices.py against a local copy of the Azure Retail Prices API: it picks the
Linux pay-as-you-go hourly price (not Windows, Spot or Low Priority), follows NextPageLink,
and keeps the sizes Azure no longer prices."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[3]


def item(size: str, price: float, product: str, sku: str) -> dict:
    """One item as the API returns it (the fields the script reads, and a few more)."""
    return {
        "currencyCode": "USD", "retailPrice": price, "unitPrice": price,
        "armRegionName": "eastus", "location": "US East", "armSkuName": size,
        "productName": product, "skuName": sku, "serviceName": "Virtual Machines",
        "unitOfMeasure": "1 Hour", "type": "Consumption", "meterName": sku,
    }  # fmt: skip


@pytest.fixture
def prices_api() -> Iterator[tuple[str, list[str]]]:
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            asked.append(query["$filter"][0])
            size = query["$filter"][0].rsplit("'", 2)[-2]
            if query.get("page") == ["2"]:
                linux = item(size, 0.5, "Virtual Machines NCasT4_v3 Series", "NC4as T4 v3")
                page = {"Items": [linux], "NextPageLink": None}
            elif size == "Standard_NC4as_T4_v3":
                nxt = f"http://127.0.0.1:{self.server.server_address[1]}{parts.path}?{parts.query}&page=2"
                page = {
                    "Items": [
                        item(size, 0.9, "Virtual Machines NCasT4_v3 Series Windows", "NC4as T4 v3"),
                        item(size, 0.1, "Virtual Machines NCasT4_v3 Series", "NC4as T4 v3 Spot"),
                        item(
                            size,
                            0.2,
                            "Virtual Machines NCasT4_v3 Series",
                            "NC4as T4 v3 Low Priority",
                        ),
                    ],
                    "NextPageLink": nxt,
                }
            elif size.startswith("Standard_NC") and size.endswith("s_v3"):
                page = {"Items": [], "NextPageLink": None}  # retired: no price any more
            else:
                page = {
                    "Items": [item(size, 1.0, "Virtual Machines Series", "X")],
                    "NextPageLink": None,
                }
            body = json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/retail/prices", asked
    finally:
        server.shutdown()
        server.server_close()


def test_refresh(prices_api: tuple[str, list[str]], tmp_path: Path) -> None:
    endpoint, asked = prices_api
    out = tmp_path / "vm-sizes.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "azure-prices.py"), "--endpoint", endpoint,
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = json.loads(out.read_text())
    committed = json.loads((ROOT / "cmlinfra/clouds/azure/data/vm-sizes.json").read_text())
    assert table["sizes"]["Standard_NC4as_T4_v3"]["price"] == 0.5  # page 2, Linux, on demand
    assert table["sizes"]["Standard_F8s_v2"]["price"] == 1.0
    kept = committed["sizes"]["Standard_NC6s_v3"]["price"]
    assert table["sizes"]["Standard_NC6s_v3"]["price"] == kept
    assert "Standard_NC6s_v3" in result.stderr and "(kept)" in result.stderr
    assert table["as_of"] != committed["as_of"] and "azure-prices.py" in table["source"]
    assert all(
        "armRegionName eq 'eastus'" in f and "priceType eq 'Consumption'" in f for f in asked
    )
