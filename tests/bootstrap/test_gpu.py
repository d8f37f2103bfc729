"""Parsing nvidia-smi output into typed results. The fixtures are hand-written to nvidia-smi's
formats (no GPU was available to capture them; see fixtures/nvidia-smi/SOURCE.md); any real
capture dropped into that folder is parsed too."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmlinfra.bootstrap.gpu import Gpu, find_query_csv, parse_query_csv, parse_smi_xml

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"


def test_query_csv_with_units() -> None:
    gpus = parse_query_csv((FIXTURES / "h100x8.query.csv").read_text())
    assert len(gpus) == 8
    assert [g.index for g in gpus] == list(range(8))
    assert gpus[7] == Gpu(
        index=7,
        name="NVIDIA H100 80GB HBM3",
        uuid="GPU-3f1c9a2e-7b41-4d0e-9c55-1a2b3c4d5e67",
        driver_version="550.90.07",
        memory_mib=81559,
        compute_capability="9.0",
    )


def test_query_csv_nounits_and_not_supported() -> None:
    (a10g,) = parse_query_csv((FIXTURES / "a10g.query-nounits.csv").read_text())
    assert (a10g.name, a10g.memory_mib, a10g.compute_capability) == ("NVIDIA A10G", 23028, "8.6")
    (t4,) = parse_query_csv((FIXTURES / "t4-not-supported.query.csv").read_text())
    assert t4.compute_capability is None  # "[Not Supported]" is not a value
    assert t4.memory_mib == 15360


def test_xml_report() -> None:
    report = parse_smi_xml((FIXTURES / "h100x2.q.xml").read_text())
    assert (report.driver_version, report.cuda_version) == ("550.90.07", "12.4")
    assert [(g.index, g.pci_bus_id, g.memory_mib) for g in report.gpus] == [
        (0, "00000000:17:00.0", 81559),
        (1, "00000000:65:00.0", 81559),
    ]
    assert report.gpus[0].name == "NVIDIA H100 PCIe"


def test_query_block_is_found_inside_step_output() -> None:
    lines = [
        "Unable to find image 'ubuntu:24.04' locally",
        "index, name, uuid, driver_version, memory.total [MiB], compute_cap",
        "0, NVIDIA A10G, GPU-1, 535.183.01, 23028 MiB, 8.6",
        "some trailing log line",
    ]
    block = find_query_csv(lines)
    assert [g.name for g in parse_query_csv("\n".join(block))] == ["NVIDIA A10G"]
    assert find_query_csv(["no gpu here"]) == []


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("*.csv")) + sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.name
)
def test_every_fixture_parses_consistently(path: Path) -> None:
    if path.suffix == ".xml":
        gpus = list(parse_smi_xml(path.read_text()).gpus)
    else:
        gpus = parse_query_csv(path.read_text())
    assert gpus
    assert all(g.name and g.memory_mib and g.memory_mib > 1000 for g in gpus)
    assert len({g.uuid for g in gpus}) == len(gpus)
