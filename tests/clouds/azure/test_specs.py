"""The vendored subset of Microsoft's specifications is what scripts/azure-spec-subset.py makes
from the full files (kept in the shared specs folder beside the checkout, when present), each
file names its source, and the licence travels with them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SPECS = ROOT / "tests" / "clouds" / "azure" / "specs"
SCRIPT = ROOT / "scripts" / "azure-spec-subset.py"


def test_every_file_names_its_source_and_the_licence_is_kept() -> None:
    files = sorted(SPECS.rglob("*.json"))
    assert len(files) >= 5
    for path in files:
        doc = json.loads(path.read_text())
        assert doc["x-cmlinfra-subset"].startswith("Azure/azure-rest-api-specs@a977c730"), path
    assert "Copyright (c) 2017 Microsoft" in (SPECS / "LICENSE").read_text()


def test_the_subset_is_what_the_script_makes(tmp_path: Path) -> None:
    source = next(
        (
            p / "shared" / "specs" / "azure"
            for p in ROOT.parents
            if (p / "shared/specs/azure").is_dir()
        ),
        None,
    )
    if source is None:  # a checkout without the shared folder: the committed files stand
        return
    subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(source), "--out", str(tmp_path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    made = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {
        p.relative_to(SPECS): p.read_bytes()
        for p in SPECS.rglob("*")
        if p.is_file() and p.name != "SOURCE.md"
    }
    assert made == kept, "run scripts/azure-spec-subset.py"
