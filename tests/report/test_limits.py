"""fit_to_limit: never over the limit, cut only where markdown can end, everything closed.

The oracle for "where markdown can end" is an independent parser, markdown-it-py (installed
with rich): a cut must fall on the start of one of its top-level blocks, and a paragraph
appended after the cut must still parse as a top-level paragraph (no fence or comment left
open), with as many ``</details>`` as ``<details>``.
"""

from __future__ import annotations

import random
import re

import pytest
from markdown_it import MarkdownIt

from cmlinfra.report.limits import GITHUB_COMMENT_LIMIT, fit_to_limit, truncation_note

MD = MarkdownIt("commonmark").enable("table")
NOTE = "Full report: https://example.invalid/run/1"


def _kept(out: str, limit: int, note: str = NOTE) -> str:
    tail = truncation_note(limit, note)
    assert out.endswith(tail.lstrip("\n"))
    return out[: len(out) - len(tail)] if out.endswith(tail) else ""


def _block_starts(markdown: str) -> set[int]:
    """Offsets where markdown-it starts a top-level block or an item of a top-level list."""
    line_offsets = [0]
    for m in re.finditer("\n", markdown):
        line_offsets.append(m.end())
    return {
        line_offsets[tok.map[0]]
        for tok in MD.parse(markdown)
        if tok.map and (tok.level == 0 or (tok.level == 1 and tok.type == "list_item_open"))
    }


def _html_balanced(markdown: str) -> bool:
    html = "".join(
        t.content
        for t in MD.parse(markdown)
        for t in ([t, *(t.children or [])])
        if t.type in ("html_block", "html_inline")
    )
    return len(re.findall(r"<details[\s>]", html)) == len(re.findall(r"</details>", html))


def _closed(markdown: str) -> bool:
    """True when nothing is left open: a sentinel paragraph after it parses as one."""
    tokens = MD.parse(markdown + "\n\nSENTINEL-PARAGRAPH\n")
    for i, tok in enumerate(tokens):
        if tok.type == "inline" and tok.content == "SENTINEL-PARAGRAPH":
            return tokens[i - 1].type == "paragraph_open" and tok.level == 1
    return False


# --- examples -------------------------------------------------------------------------------


def test_a_report_that_fits_is_unchanged() -> None:
    text = "# Report\n\n```\n" + "x" * 100 + "\n```\n"
    assert fit_to_limit(text, 1000) is text
    assert fit_to_limit(text, len(text)) == text
    assert fit_to_limit(text, len(text) + 10, reserve=10) == text


def test_cuts_before_the_section_that_does_not_fit() -> None:
    text = "# Report\n\nintro\n\n## Metrics\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Log\n\n" + (
        "line\n" * 500
    )
    out = fit_to_limit(text, 600, NOTE)
    assert len(out) <= 600
    assert _kept(out, 600) == text[: text.index("## Log")].rstrip()
    assert "**This report was truncated**" in out and NOTE in out
    assert "65,536" in fit_to_limit(text * 100, GITHUB_COMMENT_LIMIT)


def test_headings_inside_fences_details_and_comments_are_not_cut_points() -> None:
    fenced = "````\n# not a heading\n```\n# still code\n````\n"
    details = "<details><summary>log</summary>\n\n# inside details\n\ntext\n</details>\n"
    comment = "<!--\n# inside a comment\n-->\n"
    body = "# Title\n\n" + fenced + "\n" + details + "\n" + comment + "\n" + "word " * 400
    allowed = {body[: body.index(m)].rstrip() for m in ("<details>", "<!--", "word")}
    for limit in range(250, len(body), 7):
        kept = _kept(fit_to_limit(body, limit, NOTE), limit)
        assert _closed(kept) and _html_balanced(kept)
        # before a later block, or the fence cut inside and closed (it is larger than the room)
        assert kept in allowed or (kept.startswith("# Title\n\n````\n") and kept.endswith("````"))


def test_reserve_leaves_room_for_the_watermark() -> None:
    text = "# A\n\n" + "a\n" * 150 + "\n# B\n\n" + "b\n" * 300
    mark = "\n<!-- cmlinfra:watermark=train -->"
    out = fit_to_limit(text, 700, NOTE, reserve=len(mark))
    assert len(out + mark) <= 700
    assert _kept(out, 700) == text[: text.index("# B")].rstrip()


def test_one_giant_code_block_is_cut_inside_and_closed() -> None:
    text = "```text\n" + "".join(f"epoch {i} loss {1 / (i + 1):.4f}\n" for i in range(5000))
    text += "```\n"
    out = fit_to_limit(text, 2000, NOTE)
    assert len(out) <= 2000
    kept = _kept(out, 2000)
    assert kept.startswith("```text\nepoch 0 loss") and kept.endswith("\n```")
    assert _closed(kept)


def test_one_giant_line_inside_details_and_fence() -> None:
    text = "<details>\n<summary>plan</summary>\n\n```\n" + "x" * 10_000 + "\n```\n</details>\n"
    out = fit_to_limit(text, 500, NOTE)
    assert len(out) <= 500
    kept = _kept(out, 500)
    assert kept.endswith("```\n</details>") and "xxxx" in kept
    assert _closed(kept) and _html_balanced(kept)


def test_a_limit_with_no_room_for_any_note_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no room"):
        fit_to_limit("x" * 200, 100, reserve=90)


def test_the_note_is_shortened_before_the_limit_is_exceeded() -> None:
    out = fit_to_limit("word " * 100, 120, "n" * 500)
    assert len(out) <= 120 and "truncated" in out and "nnn" not in out


# --- generated documents --------------------------------------------------------------------


def _block(rng: random.Random) -> str:
    kind = rng.choice(["heading", "para", "fence", "table", "details", "list", "comment", "quote"])
    words = lambda n: " ".join(rng.choice(["loss", "acc", "`x`", "a*b", "#7"]) for _ in range(n))  # noqa: E731
    if kind == "heading":
        return "#" * rng.randint(1, 4) + " " + words(rng.randint(1, 5))
    if kind == "para":
        return "\n".join(words(rng.randint(3, 15)) for _ in range(rng.randint(1, 6)))
    if kind == "fence":
        marker = rng.choice(["```", "````", "~~~"])
        inner = ["# fake heading", "", "```" if marker != "```" else "~~~", "<details>"]
        body = "\n".join(rng.choice([*inner, words(6)]) for _ in range(rng.randint(1, 40)))
        return f"{marker}{rng.choice(['', 'text', 'hcl'])}\n{body}\n{marker}"
    if kind == "table":
        rows = [f"| {words(1)} | {rng.random():.3f} |" for _ in range(rng.randint(1, 30))]
        return "| metric | value |\n|---|---|\n" + "\n".join(rows)
    if kind == "details":
        inner = "\n\n".join(_block(rng) for _ in range(rng.randint(1, 3)))
        return f"<details>\n<summary>{words(2)}</summary>\n\n{inner}\n\n</details>"
    if kind == "list":
        return "\n".join(f"- {words(rng.randint(1, 8))}" for _ in range(rng.randint(1, 10)))
    if kind == "comment":
        return f"<!--\n{words(3)}\n\n# hidden\n-->"
    return "\n".join(f"> {words(5)}" for _ in range(rng.randint(1, 5)))


def _document(rng: random.Random) -> tuple[str, list[int]]:
    """A document and the offsets of its top-level blocks that do not follow a heading."""
    blocks = [_block(rng) for _ in range(rng.randint(1, 40))]
    starts, offset = [], 0
    for prev, block in zip([None, *blocks], blocks, strict=False):
        if prev is not None and not prev.startswith("#"):
            starts.append(offset)
        offset += len(block) + 2
    return "\n\n".join(blocks) + "\n", starts


@pytest.mark.parametrize("seed", range(300))
def test_generated_documents(seed: int) -> None:
    rng = random.Random(seed)
    text, top_level = _document(rng)
    starts = _block_starts(text)
    reserve = rng.choice([0, 0, 40])
    for limit in sorted({rng.randint(300, 3000) for _ in range(4)} | {len(text) + reserve}):
        out = fit_to_limit(text, limit, NOTE, reserve=reserve)
        assert len(out) + reserve <= limit
        if len(text) + reserve <= limit:
            assert out == text
            continue
        kept = _kept(out, limit)
        assert _closed(kept), kept
        assert _html_balanced(kept), kept
        room = limit - reserve - len(truncation_note(limit, NOTE))
        # a clean cut at a block start (never in a fence, table, list item or details) ...
        if kept not in {text[:s].rstrip() for s in starts}:
            # ... or inside one block, closed, only when no top-level block boundary fits
            assert not any(0 < s <= room for s in top_level), kept
        if any(room // 2 <= s <= room for s in top_level):
            assert len(kept) >= room // 2 - 2


# --- one line longer than the room ------------------------------------------------------------


def test_one_giant_line_is_cut_by_characters_not_emptied() -> None:
    text = "x" * 200_000
    out = fit_to_limit(text, GITHUB_COMMENT_LIMIT, NOTE)
    assert len(out) <= GITHUB_COMMENT_LIMIT
    kept = _kept(out, GITHUB_COMMENT_LIMIT)
    assert len(kept) >= GITHUB_COMMENT_LIMIT // 2 and text.startswith(kept)


def test_a_giant_line_after_a_title_keeps_most_of_the_line_cut_at_a_space() -> None:
    text = "# Title\n\n" + "word " * 40_000 + "\n"
    kept = _kept(fit_to_limit(text, 5000, NOTE), 5000)
    assert kept.startswith("# Title\n\nword word") and text.startswith(kept)
    assert len(kept) > 2500 and kept.endswith("word")


@pytest.mark.parametrize("seed", range(40))
def test_a_giant_line_is_never_cut_inside_a_tag_link_code_or_url(seed: int) -> None:
    rng = random.Random(seed)
    pieces = [
        "plain",
        '<img src="https://example.com/a.png" width="300">',
        "[the docs](https://example.com/docs/page)",
        "![loss](plot-loss.png)",
        "`code span with spaces`",
        "https://example.com/very/long/path?x=1",
        "&nbsp;",
        "<details><summary>more</summary>",
        "x" * rng.randint(1, 300),
        "<details><summary>s</summary> inside </details>",  # closers never outnumber openers
    ]
    line = " ".join(rng.choice(pieces) for _ in range(3000))
    text = rng.choice(["", "# T\n\n", "<details>\n\n"]) + line + "\n"
    for limit in (rng.randint(400, 3000), rng.randint(3000, 20000)):
        kept = _kept(fit_to_limit(text, limit, NOTE), limit)
        assert len(kept) > (limit - len(truncation_note(limit, NOTE))) // 3, kept
        assert _closed(kept) and _html_balanced(kept), kept
        body = re.sub(r"(\n(?:</details>|-->))+$", "", kept).rstrip()
        assert text.startswith(body)
        cut = len(body)
        for piece in pieces[1:-2]:
            for m in re.finditer(re.escape(piece), text):
                assert not m.start() < cut < m.end(), (piece, kept[-80:])
