"""Plots for a report: training curves from series files and a confusion-matrix image.

Images are rendered with matplotlib's Agg canvas directly (no pyplot, no display, no global
state), imported only when a plot is drawn. Output is deterministic: fixed size and dpi, fixed
fonts, and no ``Software``/date metadata in the PNG, so the same data gives the same bytes and
an unchanged plot does not show up as a changed asset in the pull request.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError

X_NAMES = ("step", "epoch", "iteration", "iter", "x")
LINE_SIZE = (6.4, 4.0)  # inches; at DPI this is 640 x 400 pixels
DPI = 100


@dataclass(frozen=True)
class Series:
    """Values of one or more named columns against a common x (step, epoch, or row number)."""

    x_name: str
    x: list[float]
    columns: dict[str, list[float]] = field(default_factory=dict)


SERIES_FIX = 'give a CSV with a header (step,loss,...) or JSON records [{"step": 1, "loss": 0.5}]'
CONFUSION_FIX = (
    'give JSON {"labels": [...], "matrix": [[...]]} or [[...]], a CSV matrix with labels in '
    "the header and first column, or actual,predicted rows"
)


def _bad(path: Path, where: str, problem: str, fix: str = SERIES_FIX) -> CmlinfraError:
    location = f"{path} {where}".strip()
    return CmlinfraError(f"cannot plot {location}: {problem}", fix)


def _float(path: Path, where: str, value: Any, fix: str = SERIES_FIX) -> float:
    if value is None or value == "":  # a missing point (e.g. validation every 5 epochs): a gap
        return math.nan
    if isinstance(value, bool):
        raise _bad(path, where, f"{value!r} is not a number", fix)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(path, where, f"{value!r} is not a number", fix) from None


def _from_records(path: Path, records: list[dict[str, Any]], lines: list[int]) -> Series:
    keys = list(dict.fromkeys(k for r in records for k in r))
    x_name = next((k for k in keys if k.lower() in X_NAMES), "")
    columns: dict[str, list[float]] = {}
    for key in (k for k in keys if k != x_name):
        values = [r.get(key) for r in records]
        if all(isinstance(v, str) and not _is_number(v) for v in values):
            continue  # a label column (e.g. "split"): not plotted
        columns[key] = [
            _float(path, f"line {line}" if line else f"record {i + 1}", v)
            for i, (v, line) in enumerate(zip(values, lines, strict=True))
        ]
    if not columns:
        raise _bad(path, "", "no numeric column to plot")
    x = [
        _float(path, f"record {i + 1}", r.get(x_name)) if x_name else float(i)
        for i, r in enumerate(records)
    ]
    return Series(x_name or "row", x, columns)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_series(path: Path) -> Series:
    """A series file: CSV/TSV with a header, JSON records ``[{"epoch": 1, "loss": 0.5}]``
    (optionally under one key, as DVC writes them), or ``{"loss": [0.5, 0.4]}``. A column named
    step/epoch/iteration/x is the x axis; otherwise the row number is."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CmlinfraError(f"plot data {path} does not exist", "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, "", str(exc)) from None
    if path.suffix.lower() in (".csv", ".tsv"):
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        rows = [
            (n, r)
            for n, r in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)
            if any(c.strip() for c in r)
        ]
        if len(rows) < 2:
            raise _bad(path, "", "a header and at least one row are needed")
        header = [h.strip() for h in rows[0][1]]
        for n, row in rows[1:]:
            if len(row) != len(header):
                raise _bad(path, f"line {n}", f"{len(row)} fields, the header has {len(header)}")
        records = [dict(zip(header, (c.strip() for c in r), strict=True)) for _, r in rows[1:]]
        return _from_records(path, records, [n for n, _ in rows[1:]])
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(path, f"line {exc.lineno} column {exc.colno}", exc.msg) from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        inner = next(iter(data.values()))
        if inner and all(isinstance(r, dict) for r in inner):
            data = inner
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return _from_records(path, data, [0] * len(data))
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        length = max(len(v) for v in data.values())
        records = [{k: v[i] for k, v in data.items() if i < len(v)} for i in range(length)]
        return _from_records(path, records, [0] * length)
    raise _bad(path, "", "expected records or an object of lists")


@contextmanager
def _figure(size: tuple[float, float], out: Path) -> Iterator[Any]:
    """A figure drawn under matplotlib's default style (a user's matplotlibrc must not change
    the bytes) and saved as a PNG without metadata when the block ends."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        figure = Figure(figsize=size, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        yield figure
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})


def line_plot(series: Series, out: Path, title: str = "", columns: Sequence[str] = ()) -> Path:
    """A line chart of ``columns`` (all numeric columns by default) against x, as a PNG."""
    wanted = list(columns) or list(series.columns)
    missing = [c for c in wanted if c not in series.columns]
    if missing:
        raise CmlinfraError(
            f"no column {missing[0]!r} to plot", f"choose from {', '.join(series.columns)}"
        )
    from matplotlib.ticker import MaxNLocator

    with _figure(LINE_SIZE, out) as figure:
        axes = figure.add_subplot()
        marker = "o" if len(series.x) < 30 else None
        for name in wanted:
            axes.plot(series.x, series.columns[name], label=name, marker=marker)
        axes.set_xlabel(series.x_name)
        if all(float(v).is_integer() for v in series.x):  # epochs and steps: no 1.25 ticks
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(True, alpha=0.3)
        if title:
            axes.set_title(title)
        if len(wanted) > 1:
            axes.legend()
        else:
            axes.set_ylabel(wanted[0])
    return out


@dataclass(frozen=True)
class Confusion:
    labels: list[str]
    matrix: list[list[float]]  # rows: actual, columns: predicted


def load_confusion(path: Path) -> Confusion:
    """A confusion matrix: JSON ``{"labels": [...], "matrix": [[...]]}`` or a bare JSON
    matrix ``[[...], ...]`` (labels 0..n-1, as sklearn's ``confusion_matrix().tolist()``
    saves it), a CSV matrix whose
    header row and first column are the labels, or CSV/JSON ``actual,predicted`` records
    (DVC's confusion plot input), which are counted."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CmlinfraError(f"confusion matrix {path} does not exist", "check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, "", str(exc), CONFUSION_FIX) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad(
                path, f"line {exc.lineno} column {exc.colno}", exc.msg, CONFUSION_FIX
            ) from None
        if isinstance(data, dict) and "matrix" in data:
            labels = [str(x) for x in data.get("labels") or range(len(data["matrix"]))]
            return _check(path, labels, data["matrix"])
        if isinstance(data, list) and data and all(isinstance(r, list) for r in data):
            return _check(path, [str(i) for i in range(len(data))], data)
        records = data if isinstance(data, list) else []
    else:
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
        if not rows:
            raise _bad(path, "", "the file is empty", CONFUSION_FIX)
        header = [h.strip() for h in rows[0]]
        if [h.lower() for h in header] != ["actual", "predicted"]:
            return _check(path, header[1:], [r[1:] for r in rows[1:]], [r[0] for r in rows[1:]])
        for n, row in enumerate(rows[1:], start=2):
            if len(row) != 2:
                raise _bad(path, f"row {n}", "expected actual,predicted", CONFUSION_FIX)
        records = [{"actual": r[0].strip(), "predicted": r[1].strip()} for r in rows[1:]]
    if not records or not all(
        isinstance(r, dict) and {"actual", "predicted"} <= set(r) for r in records
    ):
        raise _bad(
            path,
            "",
            "no matrix and no actual/predicted records",
            CONFUSION_FIX,
        )
    labels = sorted({str(r[k]) for r in records for k in ("actual", "predicted")})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0.0] * len(labels) for _ in labels]
    for r in records:
        matrix[index[str(r["actual"])]][index[str(r["predicted"])]] += 1
    return Confusion(labels, matrix)


def _check(
    path: Path, labels: list[str], matrix: Any, row_labels: list[str] | None = None
) -> Confusion:
    if not isinstance(matrix, list) or len(matrix) != len(labels) or not labels:
        raise _bad(
            path,
            "",
            f"{len(labels)} labels but the matrix is not {len(labels)} rows",
            CONFUSION_FIX,
        )
    if row_labels is not None and [x.strip() for x in row_labels] != labels:
        raise _bad(
            path, "", "the first column must repeat the header's labels in order", CONFUSION_FIX
        )
    rows = []
    for i, row in enumerate(matrix, start=1):
        if not isinstance(row, list) or len(row) != len(labels):
            raise _bad(path, f"row {i}", f"expected {len(labels)} values", CONFUSION_FIX)
        rows.append([_float(path, f"row {i}", v, CONFUSION_FIX) for v in row])
    return Confusion(labels, rows)


def confusion_plot(confusion: Confusion, out: Path, title: str = "") -> Path:
    """A labelled heat map with the count in each cell, as a PNG (square, sized by labels)."""
    n = len(confusion.labels)
    side = min(12.0, max(4.0, 0.6 * n + 2.5))
    from matplotlib.ticker import MaxNLocator

    with _figure((side, side), out) as figure:
        axes = figure.add_subplot()
        image = axes.imshow(confusion.matrix, cmap="Blues", interpolation="nearest")
        counts = all(float(v).is_integer() for row in confusion.matrix for v in row)
        figure.colorbar(image, ax=axes, shrink=0.8, format="%g").locator = MaxNLocator(
            integer=counts
        )
        axes.set_xticks(range(n), confusion.labels, rotation=45, ha="right")
        axes.set_yticks(range(n), confusion.labels)
        axes.set_xlabel("predicted")
        axes.set_ylabel("actual")
        peak = max((max(row) for row in confusion.matrix), default=0.0)
        for i, row in enumerate(confusion.matrix):
            for j, value in enumerate(row):
                colour = "white" if peak and value > peak / 2 else "black"
                axes.text(j, i, f"{value:g}", ha="center", va="center", color=colour, fontsize=9)
        if title:
            axes.set_title(title)
    return out
