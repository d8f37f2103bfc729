"""The fruit example runs as the demo runs it: two scripts, a fresh directory, no cmlinfra."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

FRUIT = Path(__file__).resolve().parents[2] / "examples" / "fruit"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FRUIT / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.glob("*"))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fruit")
    assert _run("make_data.py", cwd=work).returncode == 0
    result = _run("train.py", "--out", "out", cwd=work)
    assert result.returncode == 0, result.stderr
    return work


def test_data_is_deterministic_and_balanced(tmp_path: Path, trained: Path) -> None:
    assert _run("make_data.py", "--out", str(tmp_path), cwd=tmp_path).returncode == 0
    assert _digest(tmp_path) == _digest(trained / "data")
    with (tmp_path / "train.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["weight_g", "hue_deg", "diameter_cm", "elongation", "label"]
    counts = {c: sum(r["label"] == c for r in rows) for c in ("apple", "orange", "banana")}
    assert sum(counts.values()) == 900
    assert min(counts.values()) > 250, counts


def test_another_seed_gives_other_data(tmp_path: Path, trained: Path) -> None:
    assert _run("make_data.py", "--out", ".", "--seed", "8", cwd=tmp_path).returncode == 0
    assert _digest(tmp_path)["train.csv"] != _digest(trained / "data")["train.csv"]


def test_metrics_are_reproducible_within_tolerance(trained: Path) -> None:
    metrics = json.loads((trained / "out" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(0.963, abs=0.02)
    assert metrics["loss"] == pytest.approx(0.113, abs=0.02)
    assert set(metrics["classes"]) == {"apple", "orange", "banana"}
    for scores in metrics["classes"].values():
        assert 0.85 <= scores["precision"] <= 1.0
        assert 0.85 <= scores["recall"] <= 1.0
    confusion = json.loads((trained / "out" / "confusion.json").read_text())
    assert confusion["labels"] == ["apple", "orange", "banana"]
    rows = confusion["matrix"]
    assert sum(map(sum, rows)) == 300
    assert sum(rows[i][i] for i in range(3)) / 300 == pytest.approx(metrics["accuracy"], abs=1e-4)


def test_loss_series_decreases(trained: Path) -> None:
    with (trained / "out" / "loss.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "train_loss", "test_loss", "test_accuracy"]
    assert [int(r["epoch"]) for r in rows][:2] == [1, 10] and rows[-1]["epoch"] == "400"
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0] / 4
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(losses))


def test_confusion_matrix_is_a_png(trained: Path) -> None:
    image = (trained / "out" / "confusion_matrix.png").read_bytes()
    assert image.startswith(PNG_MAGIC) and len(image) > 5_000


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    result = _run("train.py", "--data", "nowhere", cwd=tmp_path)
    assert result.returncode != 0
    assert "nowhere/train.csv not found" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    assert _run("make_data.py", "--samples", "3", cwd=tmp_path).returncode == 2
    assert _run("train.py", "--epochs", "0", cwd=tmp_path).returncode == 2
