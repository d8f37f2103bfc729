"""The Azure modules and the composed provider block against the azurerm provider's schema,
offline (no azurerm provider binary exists here). The checker is proven able to fail first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from cmlinfra.clouds.azure import stack
from tests.clouds.hclschema import check_module, load_snapshot, provider_block_problems

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted((ROOT / "terraform" / "modules" / "azure").iterdir())


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return load_snapshot("azurerm")


def test_snapshot_names_its_source(snapshot: dict) -> None:
    source = snapshot["source"]
    assert source["package"] == "cdktn-provider-azurerm==18.9.0"
    assert source["provider"] == "hashicorp/azurerm"
    assert source["provider_version"].startswith("5.")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_matches_provider_schema(module: Path, snapshot: dict) -> None:
    assert check_module(module, snapshot) == []


def test_every_azurerm_type_the_modules_use_is_in_the_snapshot(snapshot: dict) -> None:
    used = set()
    for module in MODULES:
        for tf in module.glob("*.tf"):
            used |= set(re.findall(r'^(resource|data) "(azurerm_\w+)"', tf.read_text(), re.M))
    assert len(used) >= 10, "the glob is wrong"
    assert {(k, t) for k, t in used if t not in snapshot[k]} == set()


def test_the_provider_block_matches(snapshot: dict) -> None:
    block = stack.provider_block("00000000-0000-4000-8000-0000000000a2")
    assert provider_block_problems(block, snapshot) == []
    assert provider_block_problems({**block, "subscription": "x"}, snapshot) == [
        "provider.azurerm.subscription: unknown argument"
    ]
    features = snapshot["provider"]["blocks"]["features"]["blocks"]
    for name, settings in block["features"].items():
        assert set(settings) <= set(features[name]["attributes"]), name


def test_a_typo_in_a_real_module_is_caught(snapshot: dict, tmp_path: Path) -> None:
    module = tmp_path / "gpu-runner"
    shutil.copytree(ROOT / "terraform" / "modules" / "azure" / "gpu-runner", module)
    main = module / "main.tf"
    main.write_text(
        main.read_text()
        .replace("disable_password_authentication", "disable_password_auth")
        .replace('    caching              = "ReadWrite"\n', "")
        .replace("boot_diagnostics {}", "boot_diagnostic {}")
        .replace("azurerm_public_ip.this.id", "azurerm_public_ip.this.ip_id")
    )
    problems = check_module(module, snapshot)
    for expected in [
        "disable_password_auth: unknown argument",
        "os_disk: missing required argument 'caching'",
        "boot_diagnostic: unknown block",
        "azurerm_public_ip has no attribute 'ip_id'",
    ]:
        assert any(expected in p for p in problems), (expected, problems)
