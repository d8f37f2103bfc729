"""Report composition: links, code fences, collapsed sections, and the job summary file."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.markdown import (
    STEP_SUMMARY_LIMIT,
    Image,
    MetricsTable,
    Report,
    Section,
    code_block,
    collapsible,
    image_link,
    render,
    section_from_file,
    write_step_summary,
)
from cmlinfra.report.metrics import compare

MD = MarkdownIt("commonmark").enable("table")


def test_code_block_outlasts_backticks_inside() -> None:
    text = "a ``` b\n````\nc"
    block = code_block(text, "text")
    assert block.startswith("`````text\n") and block.endswith("\n`````")
    tokens = [t for t in MD.parse(block) if t.type == "fence"]
    assert len(tokens) == 1 and tokens[0].content == text + "\n"


def test_collapsible_escapes_the_summary_and_renders_markdown_inside() -> None:
    block = collapsible("<b>log</b> & more", "| a |\n|---|\n| 1 |")
    assert "<summary>&lt;b&gt;log&lt;/b&gt; &amp; more</summary>" in block
    assert "table_open" in [t.type for t in MD.parse(block)]


def test_image_links_are_relative_to_the_report(tmp_path: Path) -> None:
    (tmp_path / "out" / "my plots").mkdir(parents=True)
    link = image_link(tmp_path / "out" / "my plots" / "loss [1].png", "loss [1]", tmp_path / "out")
    assert link == "![loss (1)](my%20plots/loss%20%5B1%5D.png)"
    assert image_link(tmp_path / "a.png", "a", tmp_path / "out") == "![a](../a.png)"


def test_sections_from_files(tmp_path: Path) -> None:
    md = tmp_path / "notes.md"
    md.write_text("\n# Data notes #\n\nThe *split* changed.\n")
    assert section_from_file(md) == Section("Data notes", "The *split* changed.", False)
    log = tmp_path / "train_log.txt"
    log.write_text("".join(f"epoch {i}\n" for i in range(40)))
    section = section_from_file(log)
    assert section.title == "Train log" and section.collapsed
    assert section.body.startswith("```\nepoch 0\n") and section.body.endswith("epoch 39\n```")
    assert not section_from_file(log, collapse_lines=100).collapsed
    with pytest.raises(CmlinfraError, match="does not exist"):
        section_from_file(tmp_path / "missing.md")


def test_render_puts_everything_in_order(tmp_path: Path) -> None:
    report = Report(
        title="Training",
        metrics=[MetricsTable("m.json", compare({"acc": 0.9}, {"acc": 0.8}), "main:m.json")],
        images=[Image(tmp_path / "loss.png", "loss")],
        sections=[Section("Notes", "hello"), Section("Log", "```\nx\n```", collapsed=True)],
    )
    text = render(report, tmp_path)
    assert text.split("\n\n")[:4] == [
        "## Training",
        "### Metrics",
        "From `m.json`, compared with `main:m.json`.",
        "| Metric | Value | Base | Change |\n|---|---|---|---|\n| `acc` | 0.9 | 0.8 | +0.1 |",
    ]
    assert "### Plots\n\n![loss](loss.png)\n\n### Notes\n\nhello\n\n<details>" in text
    tokens = MD.parse(text)
    images = [c for t in tokens for c in (t.children or []) if c.type == "image"]
    assert [i.attrs["src"] for i in images] == ["loss.png"]


def test_step_summary_is_appended_only_when_set(tmp_path: Path) -> None:
    assert write_step_summary("# r\n", env={}) is None
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n")
    assert write_step_summary("## Report\n", env={"GITHUB_STEP_SUMMARY": str(target)}) == target
    write_step_summary("## Second\n", env={"GITHUB_STEP_SUMMARY": str(target)})
    assert target.read_text() == "earlier step\n\n## Report\n\n## Second\n"


def test_step_summary_is_cut_to_the_bytes_left(tmp_path: Path, caplog) -> None:
    target = tmp_path / "summary.md"
    target.write_text("x" * 1000 + "\n")
    # multibyte text: characters fit, bytes would not
    report = "".join(f"## Part {i}\n\n" + "é€" * 3000 + "\n\n" for i in range(200))
    write_step_summary(report, env={"GITHUB_STEP_SUMMARY": str(target)})
    data = target.read_bytes()
    assert len(data) <= STEP_SUMMARY_LIMIT and len(data) > STEP_SUMMARY_LIMIT - 20_000
    assert b"This report was truncated" in data and b"job's artifacts" in data
    write_step_summary(report, env={"GITHUB_STEP_SUMMARY": str(target)})  # what is left
    assert len(data) < len(target.read_bytes()) <= STEP_SUMMARY_LIMIT
    target.write_bytes(b"x" * (STEP_SUMMARY_LIMIT - 500))
    with caplog.at_level("WARNING", logger="cmlinfra"):  # a warning: report.md is written
        assert write_step_summary(report, env={"GITHUB_STEP_SUMMARY": str(target)}) is None
    assert "it is full" in caplog.text and target.stat().st_size == STEP_SUMMARY_LIMIT - 500


def test_step_summary_shows_alt_text_for_local_images(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    report = (
        "## R\n\n![loss](plot-loss.png) ![web](https://example.com/w.png)\n\n"
        '<img src="cm.png" alt="confusion"> ![ref][1]\n\n[1]: sub/x.png\n\n'
        "```\n![code](c.png)\n```\n"
    )
    write_step_summary(report, env={"GITHUB_STEP_SUMMARY": str(target)})
    tokens = MD.parse(target.read_text())
    images = [c.attrs["src"] for t in tokens for c in (t.children or []) if c.type == "image"]
    assert images == ["https://example.com/w.png"]
    text = target.read_text()
    for alt in ("loss", "confusion", "ref"):
        assert f"*{alt}* (image in the PR comment)" in text
    assert "![code](c.png)" in text
