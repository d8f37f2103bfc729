"""DVC plots as PNG images, drawn with matplotlib from what DVC resolved.

``dvc plots show`` renders in a browser with Vega (loaded from a CDN: blank offline, and a
comment cannot run scripts anyway). DVC's renderers already hold everything a picture needs: the
template name, the x and y fields and labels, and datapoints tagged with their revision, source
file and field (``y: {a.csv: loss, b.csv: loss}`` gives one line per file). Each of DVC's
templates gets its matplotlib counterpart — lines (linear, simple, smooth with its running mean),
points (scatter, scatter_jitter), bars (bar_horizontal, _sorted) and count grids (confusion,
confusion_normalized), one panel per revision; a custom template is drawn as lines and says so.
Image plots are copied as they are, one per revision.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from cmlinfra.report.markdown import Image
from cmlinfra.report.plots import LINE_SIZE, _figure

LINES = {"linear", "simple", "smooth"}
POINTS = {"scatter", "scatter_jitter"}
BARS = {"bar_horizontal", "bar_horizontal_sorted"}
GRIDS = {"confusion", "confusion_normalized"}


def _name(stem: str, taken: set[str]) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-") or "plot"
    name, n = f"dvc-{safe}.png", 1
    while name in taken:
        n += 1
        name = f"dvc-{safe}-{n}.png"
    taken.add(name)
    return name


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _y(point: dict[str, Any], y: str) -> Any:
    return point[y] if y in point else point.get(point.get("field", ""))


def _groups(points: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        key = (
            str(point.get("rev", "")),
            str(point.get("filename", "")),
            str(point.get("field", "")),
        )
        groups[key].append(point)
    return groups


def _label(key: tuple[str, str, str], keys: list[tuple[str, str, str]]) -> str:
    """Only the parts that tell the series apart: revision, file, field."""
    parts = [key[i] for i in range(3) if len({k[i] for k in keys}) > 1]
    return " · ".join(parts) or key[0]


def _series(axes: Any, renderer: Any, template: str) -> None:
    props = renderer.properties
    x, y = props.get("x", "step"), props.get("y", "")
    groups = _groups(renderer.datapoints)
    keys = list(groups)
    for key, points in groups.items():
        xs = [_number(p.get(x)) for p in points]
        ys = [_number(_y(p, y)) for p in points]
        label = _label(key, keys)
        if template in POINTS:
            axes.scatter(xs, ys, label=label, s=12)
        elif template == "smooth" and len(ys) > 4:
            (line,) = axes.plot(xs, ys, alpha=0.3)
            window = max(2, len(ys) // 10)
            mean = [
                sum(ys[max(0, i - window + 1) : i + 1]) / len(ys[max(0, i - window + 1) : i + 1])
                for i in range(len(ys))
            ]
            axes.plot(xs, mean, color=line.get_color(), label=label)
        else:
            axes.plot(xs, ys, label=label, marker="o" if len(xs) < 30 else None)
    axes.set_xlabel(props.get("x_label") or x)
    axes.set_ylabel(props.get("y_label") or y)
    axes.grid(True, alpha=0.3)
    if len(keys) > 1:
        axes.legend()


def _bars(figure: Any, renderer: Any) -> None:
    props = renderer.properties
    x, y = props.get("x", ""), props.get("y", "")
    by_rev = _groups(renderer.datapoints)
    axes = figure.add_subplot()
    height = 0.8 / max(1, len(by_rev))
    categories: list[str] = []
    for points in by_rev.values():
        for p in points:
            if str(_y(p, y)) not in categories:
                categories.append(str(_y(p, y)))
    if props.get("template") == "bar_horizontal_sorted":
        first = next(iter(by_rev.values()), [])
        value = {str(_y(p, y)): _number(p.get(x)) for p in first}
        categories.sort(key=lambda c: value.get(c, 0.0))
    for i, (key, points) in enumerate(by_rev.items()):
        value = {str(_y(p, y)): _number(p.get(x)) for p in points}
        axes.barh(
            [j + i * height for j in range(len(categories))],
            [value.get(c, math.nan) for c in categories],
            height=height,
            label=_label(key, list(by_rev)),
        )
    axes.set_yticks(
        [j + height * (len(by_rev) - 1) / 2 for j in range(len(categories))], categories
    )
    axes.set_xlabel(props.get("x_label") or x)
    if len(by_rev) > 1:
        axes.legend()


def _grids(figure: Any, renderer: Any, normalized: bool) -> None:
    props = renderer.properties
    x, y = props.get("x", "actual"), props.get("y", "predicted")
    revs = list(dict.fromkeys(str(p.get("rev", "")) for p in renderer.datapoints))
    labels = sorted(
        {str(p.get(x)) for p in renderer.datapoints} | {str(_y(p, y)) for p in renderer.datapoints}
    )
    index = {label: i for i, label in enumerate(labels)}
    for n, rev in enumerate(revs, 1):
        grid = [[0.0] * len(labels) for _ in labels]
        for p in renderer.datapoints:
            if str(p.get("rev", "")) == rev:
                grid[index[str(_y(p, y))]][index[str(p.get(x))]] += 1
        if normalized:
            for col in range(len(labels)):
                total = sum(row[col] for row in grid)
                for row in grid:
                    row[col] = row[col] / total if total else 0.0
        axes = figure.add_subplot(1, len(revs), n)
        axes.imshow(grid, cmap="Blues", interpolation="nearest")
        axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        axes.set_yticks(range(len(labels)), labels)
        axes.set_xlabel(props.get("x_label") or x)
        axes.set_ylabel(props.get("y_label") or y)
        axes.set_title(rev)
        peak = max((max(row) for row in grid), default=0.0)
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                text = f"{value:.2f}" if normalized else f"{value:g}"
                colour = "white" if peak and value > peak / 2 else "black"
                axes.text(j, i, text, ha="center", va="center", color=colour, fontsize=9)


def draw(renderer: Any, out_dir: Path, taken: set[str]) -> list[Image]:
    """The images of one DVC plot (several for an image plot with several revisions)."""
    title = str(renderer.properties.get("title") or renderer.name)
    if type(renderer).__name__ == "ImageRenderer":
        images = []
        for point in renderer.datapoints:
            source = Path(point["src"])
            if source.is_file():
                target = out_dir / _name(
                    f"{point.get('rev', '')}-{Path(renderer.name).stem}", taken
                )
                shutil.copyfile(source, target)
                images.append(Image(target, f"{renderer.name} ({point.get('rev', '')})"))
        return images
    if not renderer.datapoints:
        return []
    template = str(renderer.properties.get("template") or "linear")
    out = out_dir / _name(renderer.name, taken)
    revs = len({p.get("rev") for p in renderer.datapoints})
    caption = title
    if template in GRIDS:
        size = (min(12.0, 4.5 * revs), 4.5)
        with _figure(size, out) as figure:
            _grids(figure, renderer, template == "confusion_normalized")
            figure.suptitle(title)
    elif template in BARS:
        with _figure(LINE_SIZE, out) as figure:
            _bars(figure, renderer)
            figure.suptitle(title)
    else:
        if template not in LINES | POINTS:
            caption = f"{title} (custom template {template!r}, drawn as lines)"
        with _figure(LINE_SIZE, out) as figure:
            axes = figure.add_subplot()
            _series(axes, renderer, template)
            axes.set_title(title)
    return [Image(out, caption)]
