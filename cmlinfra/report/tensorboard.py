"""``report build --tensorboard LOGDIR``: TensorBoard scalars as curves and a table.

Event files are read with TensorBoard's own ``EventAccumulator`` (the ``tensorboard`` package
alone: no TensorFlow needed), so whatever wrote them — ``torch.utils.tensorboard``,
tensorboardX, Keras' callback, ``tf.summary`` — reads the same. Every directory under LOGDIR
that holds event files is a run (TensorBoard's own rule); each scalar tag becomes one plot with a
line per run, and the last value of each run's tag goes in the metrics table. ``tf.summary``
v2 writes scalars as tensors: those are read too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.markdown import Image, MetricsTable
from cmlinfra.report.metrics import MetricRow
from cmlinfra.report.plots import LINE_SIZE, _figure


@dataclass(frozen=True)
class Curve:
    run: str
    tag: str
    steps: list[int]
    values: list[float]


def _runs(logdir: Path) -> list[Path]:
    return sorted({p.parent for p in logdir.rglob("*tfevents*") if p.is_file()})


def load(logdir: Path) -> list[Curve]:
    """Every scalar curve under ``logdir``, run by run, tag by tag (steps in order)."""
    try:
        from tensorboard.backend.event_processing import event_accumulator as ea
        from tensorboard.util import tensor_util
    except ImportError:
        raise CmlinfraError(
            "--tensorboard needs TensorBoard on this machine", "pip install 'cmlinfra[tensorboard]'"
        ) from None
    if not logdir.is_dir():
        raise CmlinfraError(f"TensorBoard log directory {logdir} does not exist", "check the path")
    runs = _runs(logdir)
    if not runs:
        raise CmlinfraError(
            f"no TensorBoard event files (*tfevents*) under {logdir}",
            "point --tensorboard at the directory the SummaryWriter wrote to",
        )
    curves = []
    for run in runs:
        name = run.relative_to(logdir).as_posix() if run != logdir else logdir.name
        acc = ea.EventAccumulator(str(run), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
        acc.Reload()
        tags = acc.Tags()
        for tag in tags.get(ea.SCALARS, []):
            events = acc.Scalars(tag)
            curves.append(Curve(name, tag, [e.step for e in events], [e.value for e in events]))
        for tag in tags.get(ea.TENSORS, []):
            if acc.SummaryMetadata(tag).plugin_data.plugin_name != "scalars":
                continue
            events = acc.Tensors(tag)
            values = [float(tensor_util.make_ndarray(e.tensor_proto).item()) for e in events]
            curves.append(Curve(name, tag, [e.step for e in events], values))
    return curves


def table(curves: list[Curve], logdir: Path) -> MetricsTable:
    """The last value of every scalar; ``run/tag`` when there are several runs."""
    several = len({c.run for c in curves}) > 1
    rows = [
        MetricRow(f"{c.run}/{c.tag}" if several else c.tag, c.values[-1] if c.values else None)
        for c in curves
    ]
    return MetricsTable(f"{logdir} (TensorBoard, last value)", rows)


def _stem(tag: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in tag).strip("-") or "scalar"


def plots(curves: list[Curve], out_dir: Path, taken: set[str]) -> list[Image]:
    """One PNG per tag, a line per run."""
    images = []
    for tag in dict.fromkeys(c.tag for c in curves):
        mine = [c for c in curves if c.tag == tag]
        name, n = f"tensorboard-{_stem(tag)}.png", 1
        while name in taken:
            n += 1
            name = f"tensorboard-{_stem(tag)}-{n}.png"
        taken.add(name)
        out = out_dir / name
        with _figure(LINE_SIZE, out) as figure:
            axes = figure.add_subplot()
            for curve in mine:
                values = [v if math.isfinite(v) else math.nan for v in curve.values]
                marker = "o" if len(values) < 30 else None
                axes.plot(curve.steps, values, label=curve.run, marker=marker)
            axes.set_xlabel("step")
            axes.set_ylabel(tag)
            axes.set_title(tag)
            axes.grid(True, alpha=0.3)
            if len(mine) > 1:
                axes.legend()
        images.append(Image(out, f"{tag} (TensorBoard)"))
    return images
