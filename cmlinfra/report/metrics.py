"""Metrics files, the base branch's metrics, and the difference table a reviewer reads.

Training scripts write metrics as CML and DVC users already do: ``metrics.json`` such as
``{"accuracy": 0.91, "loss": 0.2}`` (nested objects flattened to ``train.loss``), the same in
YAML, or CSV/TSV with a header (``name,value`` rows, or one column per metric where the last
row, the final epoch, counts). The base is the same file from another place: a second file, or
``git show <ref>:<path>`` so a pull request shows what it changed against its target branch.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError

Value = float | int | bool | str | None
Metrics = dict[str, Value]

_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".csv": "csv", ".tsv": "tsv"}
_LONG_HEADERS = {("name", "value"), ("metric", "value"), ("key", "value")}


def _error(name: str, where: str, problem: str) -> CmlinfraError:
    location = f"{name} {where}".strip()
    return CmlinfraError(
        f"cannot read metrics file {location}: {problem}",
        'write JSON or YAML such as {"accuracy": 0.91}, or CSV with a header row',
    )


def flatten(data: Any, prefix: str = "") -> Metrics:
    """Nested objects and lists as ``a.b.0`` keys, the way DVC names nested metrics."""
    if isinstance(data, dict):
        items: Iterable[tuple[Any, Any]] = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return {prefix: data if isinstance(data, (int, float, bool, str)) else None}
    flat: Metrics = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _cell(text: str) -> Value:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _parse_csv(text: str, name: str, delimiter: str) -> Metrics:
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    numbered = [(i, row) for i, row in enumerate(rows, start=1) if any(c.strip() for c in row)]
    if not numbered:
        raise _error(name, "", "the file is empty")
    (_, header), *body = numbered
    header = [h.strip() for h in header]
    for line, row in body:
        if len(row) != len(header):
            raise _error(name, f"line {line}", f"{len(row)} fields, the header has {len(header)}")
    if not body:
        raise _error(name, "line 2", "a header but no values")
    if tuple(h.lower() for h in header) in _LONG_HEADERS:
        return {row[0].strip(): _cell(row[1]) for _, row in body}
    return {h: _cell(c) for h, c in zip(header, body[-1][1], strict=True)}


def _parse_structured(text: str, name: str, fmt: str) -> Any:
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _error(name, f"line {exc.lineno} column {exc.colno}", exc.msg) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _error(name, where, problem) from None


def parse_metrics(text: str, name: str, fmt: str | None = None) -> Metrics:
    """Metrics from ``text`` (a file's content); ``name`` appears in errors, and its suffix
    picks the format unless ``fmt`` (json, yaml, csv, tsv) is given."""
    fmt = (
        fmt
        or _FORMATS.get(Path(name).suffix.lower())
        or ("json" if text.lstrip().startswith("{") else "yaml")
    )
    if fmt in ("csv", "tsv"):
        return _parse_csv(text, name, "," if fmt == "csv" else "\t")
    data = _parse_structured(text, name, fmt)
    if not isinstance(data, dict):
        kind = "nothing" if data is None else f"a {type(data).__name__}"
        raise _error(name, "", f"expected an object of name: value pairs, found {kind}")
    return flatten(data)


def load_metrics(path: Path) -> Metrics:
    """Metrics from a file, with a one-line error naming the file when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CmlinfraError(
            f"metrics file {path} does not exist", "check the path and that training wrote it"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(str(path), "", str(exc)) from None
    return parse_metrics(text, str(path))


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise CmlinfraError("git is not installed", "install git or use --base-metrics") from None


def load_base_metrics(path: Path, ref: str) -> Metrics | None:
    """The metrics file ``path`` as it is at git ``ref``; None when the file is not there yet
    (the pull request that adds it). An unknown ref is an error: in CI it usually means a
    shallow clone that lacks the base branch."""
    where = path.resolve().parent
    if not where.is_dir():
        raise CmlinfraError(f"directory {where} does not exist", "check the metrics path")
    if _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], where).returncode:
        inside = _git(["rev-parse", "--git-dir"], where).returncode == 0
        if not inside:
            raise CmlinfraError(
                f"{where} is not in a git repository, so --base-ref {ref} cannot be read",
                "run in a clone or pass --base-metrics",
            )
        raise CmlinfraError(
            f"git does not know the ref {ref!r}",
            f"fetch it first (git fetch origin {ref}, or fetch-depth: 0 in actions/checkout)",
        )
    shown = _git(["show", f"{ref}:./{path.name}"], where)
    if shown.returncode:
        return None
    return parse_metrics(shown.stdout, f"{ref}:{path.name}", _FORMATS.get(path.suffix.lower()))


@dataclass(frozen=True)
class MetricRow:
    """One line of the difference table."""

    name: str
    value: Value
    base: Value = None
    delta: float | None = None
    status: str = ""  # "new", "removed" or ""


_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _number(value: Value) -> float | None:
    """A finite number, or None; a number written as a string (``"0.8"``, as some tools save
    metrics) counts, so the change is still computed."""
    if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def compare(current: Metrics, base: Metrics | None) -> list[MetricRow]:
    """Rows for every current metric (in file order), then those only the base has."""
    if base is None:
        return [MetricRow(name, value) for name, value in current.items()]
    rows = []
    for name, value in current.items():
        if name not in base:
            rows.append(MetricRow(name, value, status="new"))
            continue
        now, then = _number(value), _number(base[name])
        delta = now - then if now is not None and then is not None else None
        rows.append(MetricRow(name, value, base[name], delta))
    rows += [MetricRow(n, None, v, status="removed") for n, v in base.items() if n not in current]
    return rows


def _cell_text(text: str) -> str:
    """Text that cannot break a table row: pipes escaped, line breaks as spaces."""
    return " ".join(text.replace("|", "\\|").split())


def format_value(value: Value, digits: int = 4, sign: bool = False) -> str:
    """Short, stable text for a number: 0.91, 12, 1.235e+06, +0.01 (float noise rounded)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return _cell_text(value)
    if isinstance(value, int):
        return f"{value:+d}" if sign else str(value)
    if not math.isfinite(value):
        return str(value)
    plus = "+" if sign else ""
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 10**-digits):
        return f"{value:{plus}.{digits}g}"
    text = f"{value:{plus}.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("+0", "-0", "0") else text


def metrics_table(rows: Sequence[MetricRow], digits: int = 4, source: str = "") -> str:
    """A markdown table; the base and change columns appear only when there is a base."""
    with_base = any(r.base is not None or r.status for r in rows)
    head = ["Metric", "Value"] + (["Base", "Change"] if with_base else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        name = _cell_text(row.name)
        cells = [name if "`" in name else f"`{name}`", format_value(row.value, digits)]
        if with_base:
            change = row.status or (
                format_value(row.delta, digits, sign=True) if row.delta is not None else ""
            )
            cells += [format_value(row.base, digits), change]
        lines.append("| " + " | ".join(cells) + " |")
    caption = f"\n\nBase: {source}" if source and with_base else ""
    return "\n".join(lines) + caption
