"""``report build --dvc``: dvc.yaml's metrics, params and plots, against the base branch.

Read with DVC's own Python API, the code behind ``dvc metrics diff``, ``dvc params diff`` and
``dvc plots diff``: the workspace's values and the base revision's (read through git, and for
DVC-cached files through DVC's cache or remote), so what the report says is what DVC says. The
tables reuse the report's own comparison (value, base, signed change); plots are drawn by
:mod:`cmlinfra.report.dvc_plots` from the datapoints and properties DVC resolved for every plot
definition (templates, multi-file ``y``, images).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.markdown import Image, MetricsTable
from cmlinfra.report.metrics import Metrics, compare, flatten

WORKSPACE = "workspace"


@contextmanager
def open_repo(root: Path) -> Iterator[Any]:
    try:
        from dvc.repo import Repo
    except ImportError:
        raise CmlinfraError(
            "--dvc needs DVC on this machine", "pip install 'cmlinfra[dvc]'"
        ) from None
    from dvc.exceptions import NotDvcRepoError

    try:
        repo = Repo(str(root))
    except NotDvcRepoError:
        raise CmlinfraError(
            f"{root} is not in a DVC repository", "run in the repository (or pass --dvc-root)"
        ) from None
    try:
        yield repo
    finally:
        repo.close()


def _check_base(repo: Any, base: str) -> None:
    from dvc.scm import RevError, resolve_rev

    try:
        resolve_rev(repo.scm, base)
    except RevError:
        raise CmlinfraError(
            f"git does not know the ref {base!r}",
            f"fetch it first (git fetch origin {base}, or fetch-depth: 0 in actions/checkout)",
        ) from None
    except Exception as exc:  # NoSCM: a DVC repository outside git
        raise CmlinfraError(
            f"cannot read the base {base!r}: {exc}", "run in a git clone, or drop --base"
        ) from None


def _by_file(result: dict[str, Any], rev: str) -> tuple[dict[str, Metrics], dict[str, str]]:
    """``{file: flattened values}`` and ``{file: error}`` of one revision of a show()."""
    entry = result.get(rev) or (result.get("", {}) if rev == WORKSPACE else {})
    values: dict[str, Metrics] = {}
    errors: dict[str, str] = {}
    if "error" in entry:
        errors["*"] = str(entry["error"])
    for path, item in (entry.get("data") or {}).items():
        if "error" in item:
            errors[path] = str(item["error"])
        else:
            values[path] = flatten(item.get("data") or {})
    return values, errors


def _tables(kind: str, result: dict[str, Any], base: str) -> list[MetricsTable]:
    current, _ = _by_file(result, WORKSPACE)
    old, old_errors = _by_file(result, base) if base else ({}, {})
    tables = []
    for path in dict.fromkeys([*current, *old]):
        source = f"{path} ({kind})"
        if not base:
            tables.append(MetricsTable(source, compare(current.get(path, {}), None)))
        elif path in old:
            rows = compare(current.get(path, {}), old[path])
            tables.append(MetricsTable(source, rows, f"{base}:{path}"))
        else:
            why = f"not in `{base}` yet" if path not in old_errors else f"unreadable at `{base}`"
            tables.append(MetricsTable(source, compare(current[path], None), "", why))
    return tables


def tables(repo: Any, base: str) -> list[MetricsTable]:
    """Metrics tables, then params tables, each compared with ``base`` when given."""
    if base:
        _check_base(repo, base)
    revs = [base] if base else None
    metrics = repo.metrics.show(revs=revs)
    params = repo.params.show(revs=revs)
    return _tables("metrics", metrics, base) + _tables("params", params, base)


def plots(repo: Any, base: str, out_dir: Path, taken: set[str]) -> list[Image]:
    """Every plot dvc.yaml defines, drawn with the base revision's data beside this one's."""
    from dvc.render.match import match_defs_renderers

    from cmlinfra.report.dvc_plots import draw

    revs = [base, WORKSPACE] if base else [WORKSPACE]
    data = repo.plots.show(revs=revs)
    scratch = out_dir / ".dvc-plots"
    matched = match_defs_renderers(
        data=data, out=str(scratch), templates_dir=repo.plots.templates_dir
    )
    images = []
    for item in matched:
        images += draw(item.renderer, out_dir, taken)
    shutil.rmtree(scratch, ignore_errors=True)
    return images


def collect(
    root: Path, base: str, out_dir: Path, taken: set[str]
) -> tuple[list[MetricsTable], list[Image]]:
    """(tables, images) for the report."""
    with open_repo(root) as repo:
        return tables(repo, base), plots(repo, base, out_dir, taken)
