"""Metrics files in every supported format, base comparison from files and from a real git
repository, and the one-line errors for files that cannot be read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.metrics import (
    MetricRow,
    compare,
    format_value,
    load_base_metrics,
    load_metrics,
    metrics_table,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("metrics.json", '{"accuracy": 0.91, "loss": 0.2}', {"accuracy": 0.91, "loss": 0.2}),
        (
            "m.json",
            '{"train": {"loss": 0.1, "acc": 0.9}, "test": {"acc": 0.8}, "epochs": 10}',
            {"train.loss": 0.1, "train.acc": 0.9, "test.acc": 0.8, "epochs": 10},
        ),
        ("m.yaml", "accuracy: 0.91\nval:\n  loss: 0.25\nmodel: resnet\n", None),
        ("m.yml", "ok: true\nlayers: [64, 32]\n", {"ok": True, "layers.0": 64, "layers.1": 32}),
        ("m.csv", "accuracy,loss\n0.5,0.9\n0.91,0.2\n", {"accuracy": 0.91, "loss": 0.2}),
        (
            "m.csv",
            "name,value\naccuracy,0.91\nmodel,resnet\n",
            {"accuracy": 0.91, "model": "resnet"},
        ),
        ("m.tsv", "epoch\tloss\n1\t0.5\n2\t0.25\n\n", {"epoch": 2, "loss": 0.25}),
        ("metrics", '{"f1": 0.7}', {"f1": 0.7}),  # no suffix: sniffed
    ],
)
def test_formats(tmp_path: Path, name: str, text: str, expected: dict | None) -> None:
    metrics = load_metrics(write(tmp_path / name, text))
    if expected is None:
        expected = {"accuracy": 0.91, "val.loss": 0.25, "model": "resnet"}
    assert metrics == expected
    assert list(metrics) == list(expected)  # file order is kept


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "m.json",
            '{"a": 1,\n "b": 2\n "c": 3}',
            "m.json line 3 column 2: Expecting ',' delimiter",
        ),
        ("m.json", "[0.1, 0.2]", "m.json: expected an object of name: value pairs, found a list"),
        ("m.json", "", "m.json line 1 column 1: Expecting value"),
        ("m.yaml", "a: 1\nb: [1, 2\nc: 3\n", "m.yaml line 3 column 2"),
        ("m.yaml", "", "found nothing"),
        ("m.csv", "a,b\n1,2\n3\n", "m.csv line 3: 1 fields, the header has 2"),
        ("m.csv", "a,b\n", "m.csv line 2: a header but no values"),
        ("m.csv", "\n\n", "m.csv: the file is empty"),
    ],
)
def test_malformed_files_name_the_file_and_line(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(CmlinfraError) as info:
        load_metrics(path)
    line = info.value.line()
    assert message in line and str(path) in line and "\n" not in line


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(CmlinfraError, match="does not exist"):
        load_metrics(tmp_path / "nope.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CmlinfraError, match=r"bin\.json"):
        load_metrics(tmp_path / "bin.json")


def test_compare_marks_new_removed_and_signs_the_change() -> None:
    rows = compare(
        {"acc": 0.91, "loss": 0.2, "f1": 0.5, "model": "b", "steps": 10},
        {"acc": 0.9, "loss": 0.25, "old": 1.0, "model": "a", "steps": 10},
    )
    by = {r.name: r for r in rows}
    assert format_value(by["acc"].delta, sign=True) == "+0.01"
    assert format_value(by["loss"].delta, sign=True) == "-0.05"
    assert format_value(by["steps"].delta, sign=True) == "0"
    assert by["f1"].status == "new" and by["old"].status == "removed"
    assert by["model"].delta is None and by["model"].base == "a"
    assert [r.name for r in rows] == ["acc", "loss", "f1", "model", "steps", "old"]


def test_numbers_written_as_strings_are_compared_as_numbers() -> None:
    rows = compare(
        {"acc": 0.9, "loss": " 2e-1 ", "tag": "1_000", "v": "nan", "n": "1.5"},
        {"acc": "0.8", "loss": 0.25, "tag": "999", "v": 1.0, "n": True},
    )
    by = {r.name: r for r in rows}
    assert format_value(by["acc"].delta, sign=True) == "+0.1"
    assert format_value(by["loss"].delta, sign=True) == "-0.05"
    assert by["tag"].delta is None and by["v"].delta is None and by["n"].delta is None


@pytest.mark.parametrize(
    ("value", "sign", "text"),
    [
        (0.91, False, "0.91"),
        (0.1 + 0.2, False, "0.3"),
        (12, False, "12"),
        (3, True, "+3"),
        (1234567.0, False, "1.235e+06"),
        (0.00001234, False, "1.234e-05"),
        (-0.00001234, True, "-1.234e-05"),
        (123.456789, False, "123.4568"),
        (float("nan"), False, "nan"),
        (True, False, "true"),
        (None, False, "-"),
        ("a|b", False, "a\\|b"),
    ],
)
def test_format_value(value, sign: bool, text: str) -> None:
    assert format_value(value, sign=sign) == text


def test_table_with_and_without_base() -> None:
    plain = metrics_table(compare({"acc": 0.91}, None))
    assert plain.splitlines() == ["| Metric | Value |", "|---|---|", "| `acc` | 0.91 |"]
    table = metrics_table(compare({"acc": 0.91, "new": 1}, {"acc": 0.9}), source="main")
    assert table.splitlines()[:4] == [
        "| Metric | Value | Base | Change |",
        "|---|---|---|---|",
        "| `acc` | 0.91 | 0.9 | +0.01 |",
        "| `new` | 1 | - | new |",
    ]
    assert table.endswith("Base: main")
    assert "removed" in metrics_table([MetricRow("gone", None, 1.0, status="removed")])
    odd = metrics_table([MetricRow("a|b", "x\ny"), MetricRow("`q`", 1)]).splitlines()
    assert odd[2:] == ["| `a\\|b` | x y |", "| `q` | 1 |"]  # a name with backticks as is


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository: metrics committed on main, changed on a branch."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo / "results" / "metrics.json", '{"acc": 0.80, "loss": 0.5}')
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    write(repo / "results" / "metrics.json", '{"acc": 0.85, "loss": 0.4}')
    return repo


def test_base_from_a_git_ref(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo / "results")  # a relative path, from a subdirectory
    path = Path("metrics.json")
    base = load_base_metrics(path, "main")
    assert base == {"acc": 0.80, "loss": 0.5}
    rows = compare(load_metrics(path), base)
    assert [format_value(r.delta, sign=True) for r in rows] == ["+0.05", "-0.1"]


def test_base_ref_without_the_file_means_no_base(repo: Path) -> None:
    write(repo / "eval.yaml", "f1: 0.5\n")
    assert load_base_metrics(repo / "eval.yaml", "main") is None


def test_base_ref_errors(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(CmlinfraError, match=r"git does not know the ref 'mian'.*fetch"):
        load_base_metrics(repo / "results" / "metrics.json", "mian")
    outside = write(tmp_path / "alone" / "m.json", "{}")
    with pytest.raises(CmlinfraError, match="not in a git repository"):
        load_base_metrics(outside, "main")
    write(repo / "bad.json", "{")
    git(repo, "add", "bad.json")
    git(repo, "commit", "-qm", "bad")
    with pytest.raises(CmlinfraError, match=r"feature:bad\.json line 1"):
        load_base_metrics(repo / "bad.json", "feature")
