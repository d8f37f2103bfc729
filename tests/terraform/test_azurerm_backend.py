"""``--state azurerm://ACCOUNT/CONTAINER/PREFIX`` → terraform's azurerm backend block.

Run for real it is not, here: pointed at Azurite (through the same proxy and certificate the
Blob registry tests use), terraform 1.0.3 and 1.11.4 both reach it but Azurite 3.35 refuses
their Shared Key signatures (403 AuthorizationFailure) while the Python SDK's pass; see
docs/azure.md. So the block is checked here and the backend itself only on real Azure.
"""

from __future__ import annotations

import json

import pytest

from cmlinfra.errors import UsageError
from cmlinfra.terraform import AzurermBackend, parse_state_url

KEY = "runners/cml-1/terraform.tfstate"


def test_parse_state_url_azurerm(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = parse_state_url("azurerm://mlstate/tfstate/runners", name="cml-1")
    assert backend == AzurermBackend("mlstate", "tfstate", "runners/cml-1/terraform.tfstate")
    assert parse_state_url("azurerm://mlstate/tfstate/x.tfstate").key == "x.tfstate"  # type: ignore[attr-defined]
    for url, message in [
        ("azurerm://ML_State/tfstate", "is not a storage account name"),
        ("azurerm://mlstate/", "is not a blob container name"),
        ("azurerm://mlstate/tf--state", "is not a blob container name"),
        ("azurerm://mlstate/tfstate?endpoint=http://127.0.0.1:10000", "takes none"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_state_url(url)


def test_the_block_never_carries_the_key(monkeypatch: pytest.MonkeyPatch, tf_latest) -> None:  # type: ignore[no-untyped-def]
    backend = AzurermBackend("mlstate", "tfstate", KEY)
    monkeypatch.delenv("ARM_ACCESS_KEY", raising=False)
    assert backend.block(tf_latest) == {
        "azurerm": {
            "storage_account_name": "mlstate",
            "container_name": "tfstate",
            "key": KEY,
            "use_azuread_auth": True,
        }
    }
    monkeypatch.setenv("ARM_ACCESS_KEY", "c2VjcmV0")
    block = backend.block(tf_latest)["azurerm"]
    assert "use_azuread_auth" not in block and "c2VjcmV0" not in json.dumps(block)
    assert "blob lease" in backend.describe()
