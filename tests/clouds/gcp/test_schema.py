"""The GCP modules against the Google provider's schema, offline (no provider binary here).

The checker itself is proven against the AWS snapshot (tests/clouds/aws/test_schema.py); here
it is shown to catch mistakes in Google's types too, on a mutated copy of the real module.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.clouds.hclschema import check_module, load_snapshot

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted((ROOT / "terraform" / "modules" / "gcp").iterdir())


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return load_snapshot("google")


def test_snapshot_names_its_source(snapshot: dict) -> None:
    source = snapshot["source"]
    assert source["package"].startswith("cdktn-provider-google==")
    assert source["provider"] == "hashicorp/google"
    assert source["provider_version"].startswith("8.")


def test_versions_constraint_matches_the_snapshot(snapshot: dict) -> None:
    """The modules allow the major version whose schema was checked, and no other."""
    major = snapshot["source"]["provider_version"].split(".")[0]
    for module in MODULES:
        text = (module / "versions.tf").read_text()
        assert f'version = ">= {major}.0, < {int(major) + 1}.0"' in text, module


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_matches_provider_schema(module: Path, snapshot: dict) -> None:
    assert list(module.glob("*.tf")), f"{module} has no .tf files"
    assert check_module(module, snapshot) == []


def test_every_google_type_the_modules_use_is_in_the_snapshot(snapshot: dict) -> None:
    used = set()
    for module in MODULES:
        for tf in module.glob("*.tf"):
            used |= set(re.findall(r'^(resource|data) "(google_\w+)"', tf.read_text(), re.M))
    assert ("resource", "google_compute_instance") in used
    assert {(k, t) for k, t in used if t not in snapshot[k]} == set()


def test_a_typo_in_the_real_runner_module_is_caught(snapshot: dict, tmp_path: Path) -> None:
    module = tmp_path / "gpu-runner"
    shutil.copytree(ROOT / "terraform" / "modules" / "gcp" / "gpu-runner", module)
    main = module / "main.tf"
    text = main.read_text()
    for right, wrong in [
        ("instance_termination_action", "termination_action"),
        ("shielded_instance_config {", "shielded_config {"),
        ('dynamic "guest_accelerator"', 'dynamic "accelerator"'),
        ("machine_type              = var.machine_type", ""),
    ]:
        assert right in text, right
        text = text.replace(right, wrong, 1)
    main.write_text(text)
    problems = check_module(module, snapshot)
    assert any("scheduling.termination_action: unknown argument" in p for p in problems)
    assert any("shielded_config: unknown block" in p for p in problems)
    assert any("dynamic 'accelerator'" in p for p in problems)
    assert any("missing required argument 'machine_type'" in p for p in problems)
