"""Real matplotlib rendering: the PNG decodes to the fixed size, two renders are the same bytes,
and the drawing shows the data (pixels differ when the data differs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.plots import (
    Confusion,
    confusion_plot,
    line_plot,
    load_confusion,
    load_series,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


LOSS_CSV = "epoch,loss,val_loss,split\n" + "".join(
    f"{e},{1 / e:.4f},{1.2 / e:.4f},train\n" for e in range(1, 11)
)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("loss.csv", LOSS_CSV),
        ("loss.tsv", LOSS_CSV.replace(",", "\t")),
        ("loss.json", json.dumps([{"epoch": e, "loss": 1 / e} for e in range(1, 11)])),
        ("dvc.json", json.dumps({"train": [{"step": e, "loss": 1 / e} for e in range(1, 11)]})),
    ],
)
def test_series_formats(tmp_path: Path, name: str, text: str) -> None:
    series = load_series(write(tmp_path / name, text))
    assert series.x_name in ("epoch", "step")
    assert series.x == [float(e) for e in range(1, 11)]
    assert series.columns["loss"][:2] == [1.0, 0.5]
    assert "split" not in series.columns  # a label column is not plotted


def test_series_without_an_x_column_uses_the_row_number(tmp_path: Path) -> None:
    series = load_series(write(tmp_path / "s.json", '{"loss": [0.5, 0.4, 0.3], "acc": [0.1]}'))
    assert series.x_name == "row" and series.x == [0.0, 1.0, 2.0]
    assert series.columns["acc"][0] == 0.1 and all(math.isnan(v) for v in series.columns["acc"][1:])
    with pytest.raises(CmlinfraError, match=r"s.json record 2: 'x' is not a number"):
        load_series(write(tmp_path / "s.json", '{"loss": [0.5, "x"], "acc": [0.1]}'))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.csv", "epoch,loss\n1,0.5\n2,abc\n", "a.csv line 3: 'abc' is not a number"),
        ("a.csv", "epoch,loss\n1,0.5\n2\n", "a.csv line 3: 1 fields, the header has 2"),
        ("a.csv", "epoch,loss\n", "a header and at least one row"),
        ("a.json", '[{"step": 1, "loss": 0.5},', "a.json line 1 column 27"),
        ("a.json", '"loss"', "expected records or an object of lists"),
        ("a.csv", "epoch,name\n1,x\n", "no numeric column to plot"),
    ],
)
def test_bad_series_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(CmlinfraError) as info:
        load_series(write(tmp_path / name, text))
    assert message in info.value.line()


def test_line_plot_is_640x400_and_byte_identical(tmp_path: Path) -> None:
    series = load_series(write(tmp_path / "loss.csv", LOSS_CSV))
    first = line_plot(series, tmp_path / "a" / "loss.png", title="Training loss")
    second = line_plot(series, tmp_path / "b" / "loss.png", title="Training loss")
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert image.format == "PNG" and image.size == (640, 400)
        assert not any(k.lower() in ("software", "creation time", "date") for k in image.info)
        colours = image.convert("RGB").getcolors(maxcolors=100_000) or []
    assert len(colours) > 50  # two antialiased lines, text and a grid: not a blank canvas
    one = line_plot(series, tmp_path / "one.png", columns=["val_loss"])
    assert one.read_bytes() != first.read_bytes()
    with pytest.raises(CmlinfraError, match=r"no column 'acc'.*loss, val_loss"):
        line_plot(series, tmp_path / "x.png", columns=["acc"])


def test_a_user_matplotlibrc_does_not_change_the_bytes(tmp_path: Path) -> None:
    import matplotlib

    series = load_series(write(tmp_path / "loss.csv", LOSS_CSV))
    plain = line_plot(series, tmp_path / "plain.png").read_bytes()
    with matplotlib.rc_context({"lines.linewidth": 7, "axes.facecolor": "black"}):
        styled = line_plot(series, tmp_path / "styled.png").read_bytes()
    assert styled == plain


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("cm.json", json.dumps({"labels": ["cat", "dog"], "matrix": [[5, 1], [2, 7]]})),
        ("cm.csv", "actual,cat,dog\ncat,5,1\ndog,2,7\n"),
        (
            "pairs.csv",
            "actual,predicted\n"
            + "cat,cat\n" * 5
            + "cat,dog\n"
            + "dog,cat\n" * 2
            + "dog,dog\n" * 7,
        ),
        (
            "pairs.json",
            json.dumps(
                [{"actual": "cat", "predicted": "cat"}] * 5
                + [{"actual": "cat", "predicted": "dog"}]
                + [{"actual": "dog", "predicted": "cat"}] * 2
                + [{"actual": "dog", "predicted": "dog"}] * 7
            ),
        ),
    ],
)
def test_confusion_inputs(tmp_path: Path, name: str, text: str) -> None:
    assert load_confusion(write(tmp_path / name, text)) == Confusion(
        ["cat", "dog"], [[5.0, 1.0], [2.0, 7.0]]
    )


def test_a_bare_json_matrix_gets_labels_0_to_n(tmp_path: Path) -> None:
    cm = load_confusion(write(tmp_path / "cm.json", "[[5, 1, 0], [2, 7, 0], [0, 0, 3]]"))
    assert cm == Confusion(["0", "1", "2"], [[5.0, 1.0, 0.0], [2.0, 7.0, 0.0], [0.0, 0.0, 3.0]])
    with pytest.raises(CmlinfraError, match="row 2: expected 2"):
        load_confusion(write(tmp_path / "bad.json", "[[5, 1], [2]]"))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("cm.json", '{"labels": ["a"], "matrix": [[1, 2], [3, 4]]}', "1 labels but the matrix"),
        ("cm.json", '{"labels": ["a", "b"], "matrix": [[1, 2], [3]]}', "cm.json row 2: expected 2"),
        ("cm.csv", "actual,a,b\na,1,2\nc,3,4\n", "first column must repeat"),
        ("cm.csv", "actual,a,b\na,1,x\nb,3,4\n", "cm.csv row 1: 'x' is not a number"),
        ("cm.csv", "actual,predicted\na,b\nc\n", "cm.csv row 3: expected actual,predicted"),
        ("cm.json", '{"x": 1}', "no matrix and no actual/predicted records"),
    ],
)
def test_bad_confusion_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(CmlinfraError) as info:
        load_confusion(write(tmp_path / name, text))
    assert message in info.value.line() and "labels" in info.value.fix


def test_confusion_plot_is_square_and_deterministic(tmp_path: Path) -> None:
    labels = [f"class{i}" for i in range(5)]
    matrix = [[float(10 * (i == j) + j) for j in range(5)] for i in range(5)]
    first = confusion_plot(Confusion(labels, matrix), tmp_path / "a.png", title="Confusion")
    second = confusion_plot(Confusion(labels, matrix), tmp_path / "b.png", title="Confusion")
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert image.size == (550, 550)  # 0.6 * 5 + 2.5 inches at 100 dpi
        assert "Software" not in image.info
    matrix[0][0] = 0.0
    other = confusion_plot(Confusion(labels, matrix), tmp_path / "c.png", title="Confusion")
    assert other.read_bytes() != first.read_bytes()
