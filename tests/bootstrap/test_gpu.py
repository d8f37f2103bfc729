"""Parsing nvidia-smi output into typed results, on two kinds of fixtures:

- ``fixtures/nvidia-smi/real-*/``: **real captures**, our own (``real-h200/``: one NVIDIA H200,
  driver 580.159.04, CUDA 13.0, 2026-12-04; its SOURCE.md). Every such folder — what
  ``scripts/gpu-check.sh --out`` writes — is parsed and cross-checked.
- ``fixtures/nvidia-smi/*.csv|*.xml``: hand-written to nvidia-smi's formats, which were checked
  against real captures from public repositories (drivers 418 to 610; not committed:
  third-party files — see fixtures/nvidia-smi/SOURCE.md).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from cmlinfra.bootstrap.gpu import (
    Gpu,
    disagreements,
    find_query_csv,
    parse_query_csv,
    parse_smi_xml,
)

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"
REAL = sorted(p for p in FIXTURES.glob("real-*") if p.is_dir())
H200 = FIXTURES / "real-h200"
H200_GPU = Gpu(
    index=0,
    name="NVIDIA H200",
    uuid="GPU-eeb87296-63e3-e252-1236-a18a5bd8b4b6",
    driver_version="580.159.04",
    memory_mib=143771,
)


def test_real_h200_query_csv_with_and_without_units() -> None:
    units = parse_query_csv((H200 / "query.csv").read_text())
    nounits = parse_query_csv((H200 / "query-nounits.csv").read_text())
    assert "143771 MiB" in (H200 / "query.csv").read_text()  # the two files really differ
    assert "143771 MiB" not in (H200 / "query-nounits.csv").read_text()
    assert units == nounits == [replace(H200_GPU, compute_capability="9.0")]


def test_real_h200_xml_report_dtd_v13() -> None:
    text = (H200 / "q.xml").read_text()
    assert '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">' in text
    # driver 580 writes this message bare, not bracketed like the others
    assert "<display_mode>Requested functionality has been deprecated</display_mode>" in text
    report = parse_smi_xml(text)
    assert (report.driver_version, report.cuda_version) == ("580.159.04", "13.0")
    assert report.gpus == (replace(H200_GPU, pci_bus_id="00000000:00:06.0"),)


def test_real_h200_forms_agree_and_a_difference_is_found() -> None:
    csv_gpus = parse_query_csv((H200 / "query.csv").read_text())
    xml = (H200 / "q.xml").read_text()
    assert disagreements(csv_gpus, parse_smi_xml(xml)) == []
    other = parse_smi_xml(xml.replace("<total>143771 MiB</total>", "<total>143770 MiB</total>"))
    assert disagreements(csv_gpus, other) == ["GPU 0 memory_mib: CSV 143771, XML 143770"]
    assert disagreements(csv_gpus * 2, other) == ["the CSV lists 2 GPU(s), the XML 1"]


@pytest.mark.parametrize("folder", REAL, ids=lambda p: p.name)
def test_every_real_capture_folder_parses_and_agrees(folder: Path) -> None:
    """A folder written by ``scripts/gpu-check.sh --out`` and copied here is checked as is."""
    assert (folder / "SOURCE.md").is_file(), "say where the captures come from"
    units = parse_query_csv((folder / "query.csv").read_text())
    report = parse_smi_xml((folder / "q.xml").read_text())
    assert units and units == parse_query_csv((folder / "query-nounits.csv").read_text())
    assert disagreements(units, report) == []
    assert all(g.name and g.uuid and g.memory_mib for g in units)


def test_unbracketed_messages_are_not_values() -> None:
    text = (
        "index, name, compute_cap, pci.bus_id\n"
        "0, NVIDIA H200, Requested functionality has been deprecated, Not Supported\n"
    )
    (gpu,) = parse_query_csv(text)
    assert (gpu.compute_capability, gpu.pci_bus_id) == (None, None)


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


def test_query_csv_nounits_and_a_driver_before_compute_cap() -> None:
    (a10g,) = parse_query_csv((FIXTURES / "a10g.query-nounits.csv").read_text())
    assert (a10g.name, a10g.memory_mib, a10g.compute_capability) == ("NVIDIA A10G", 23028, "8.6")
    # a 470 driver refuses a query naming compute_cap; the scripts' second query lacks it
    (t4,) = parse_query_csv((FIXTURES / "t4-driver470.query.csv").read_text())
    assert (t4.driver_version, t4.memory_mib, t4.compute_capability) == ("470.256.02", 15360, None)


def test_placeholders_are_not_values() -> None:
    text = (
        "name, index, uuid, pci.bus_id, compute_cap, memory.total [MiB]\n"
        "NVIDIA H200, 0, [Insufficient Permissions], [Function Not Found], "
        "[Requested functionality has been deprecated], N/A\n"
        "NVIDIA H200, 1, [GPU is lost], [N/A], [Not Supported], [Unknown Error]\n"
    )
    gpus = parse_query_csv(text)
    assert [g.index for g in gpus] == [0, 1]  # columns in another order
    assert all(
        (g.uuid, g.pci_bus_id, g.compute_capability, g.memory_mib) == (None, None, None, None)
        for g in gpus
    )


def test_noheader_output_is_refused_not_misread() -> None:
    rows = "0, NVIDIA A10G, 23028 MiB\n1, NVIDIA A10G, 23028 MiB\n"
    with pytest.raises(ValueError, match="csv,noheader"):
        parse_query_csv(rows)


def test_xml_report() -> None:
    report = parse_smi_xml((FIXTURES / "h100x2.q.xml").read_text())
    assert (report.driver_version, report.cuda_version) == ("550.90.07", "12.4")
    assert [(g.index, g.pci_bus_id, g.memory_mib) for g in report.gpus] == [
        (0, "00000000:17:00.0", 81559),
        (1, "00000000:65:00.0", 81559),
    ]
    assert report.gpus[0].name == "NVIDIA H100 PCIe"


def test_xml_index_is_report_order_and_mig_slices_are_not_gpus() -> None:
    """minor_number is /dev/nvidiaN (3 then 0 here), not nvidia-smi's index; a MIG slice's
    fb_memory_usage is nested deeper and does not replace the card's."""
    report = parse_smi_xml((FIXTURES / "a100x2-mig.q.xml").read_text())
    assert [(g.index, g.pci_bus_id, g.memory_mib) for g in report.gpus] == [
        (0, "00000000:07:00.0", 81920),
        (1, "00000000:0F:00.0", 81920),
    ]


def test_xml_from_windows_and_old_drivers() -> None:
    (rtx,) = parse_smi_xml((FIXTURES / "rtx3080-windows.q.xml").read_text()).gpus
    assert (rtx.index, rtx.name, rtx.memory_mib) == (0, "NVIDIA GeForce RTX 3080", 10240)
    old = (FIXTURES / "p100-driver418.q.xml").read_text()  # no DOCTYPE, no <reserved>
    report = parse_smi_xml("WARNING: infoROM is corrupted at gpu 0000:00:04.0\n" + old)
    assert (report.driver_version, report.cuda_version) == ("418.87.01", "10.1")
    assert [(g.name, g.memory_mib) for g in report.gpus] == [("Tesla P100-PCIE-16GB", 16280)]


def test_query_block_is_found_inside_step_output() -> None:
    lines = [
        "Unable to find image 'ubuntu:24.04' locally",
        "Reading package lists... 0%\rReading package lists... 100%",
        'Field "compute_cap" is not a valid field to query.',
        "index, name, uuid, driver_version, memory.total [MiB], compute_cap",
        "0, NVIDIA A10G, GPU-1, 535.183.01, 23028 MiB, 8.6",
        "some trailing log line",
    ]
    block = find_query_csv(lines)
    assert [g.name for g in parse_query_csv("\n".join(block))] == ["NVIDIA A10G"]
    assert find_query_csv(["no gpu here"]) == []


def test_query_block_ends_where_the_gpu_rows_end() -> None:
    """A job log often has the GPU query, then --query-compute-apps rows (pids) or the same
    query again: neither adds GPUs."""
    lines = [
        "name, uuid, memory.total [MiB]",
        "NVIDIA L40S, GPU-a, 46068 MiB",
        "NVIDIA L40S, GPU-b, 46068 MiB",
        "pid, process_name, used_gpu_memory [MiB]",
        "44378, tritonserver, 1836 MiB",
    ]
    gpus = parse_query_csv("\n".join(find_query_csv(lines)))
    assert [(g.index, g.uuid) for g in gpus] == [(0, "GPU-a"), (1, "GPU-b")]
    twice = find_query_csv(lines[:3] + lines[:3])
    assert len(parse_query_csv("\n".join(twice))) == 2


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
