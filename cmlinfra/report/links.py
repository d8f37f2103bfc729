"""The image links of a markdown report: found, and rewritten through a callback.

Three places change a report's images, and each must touch exactly what a forge renders as an
image: ``report build --section`` re-points a section's links to the ``--out`` folder, the job
summary replaces local images by their alt text (it cannot show the runner's files), and
``comment create --publish`` (cmlinfra/forges/publish.py) uploads local images and swaps in
their URLs. They share this module so that the three agree on what an image is.

Which lines hold images is decided by a markdown parser (markdown-it-py, the one rich uses),
not by a pattern: ``![x](a.png)`` in a code block, a code span or an HTML comment is text, a
reference-style ``![x][1]`` with ``[1]: plot.png`` is an image (its definition is what gets
rewritten), ``<img src>`` in HTML counts. The edits themselves are made in the source lines
the parser points at, so everything else in the report is left byte for byte as written.

A link is local when it has no scheme or host (``data:`` counts as remote). The targets handed
to a callback are as written, less ``<>`` and with backslash-escapes and entities decoded;
%-escapes are kept (``plot%20q.png`` names ``plot q.png``: ``unquote`` it for a path).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SUMMARY_NOTE = "(image in the PR comment)"

# One of: ![alt](target "title"), ![alt][label] / ![alt][] / ![alt], <img ... src=...>;
# a ``!`` after a lone backslash is escaped (the rest is then a link, not an image).
_IMAGE = re.compile(
    r"(?<!(?<!\\)\\)!\[(?P<alt>(?:[^\[\]\n]|\[[^\]\n]*\])*)\]\((?P<pad>\s*)"
    r"(?P<src><[^>\n]*>|(?:[^()\s]|\([^()\s]*\))+)"
    r"(?P<rest>[^)]*)\)"
    r"|(?<!(?<!\\)\\)!\[(?P<ref_alt>[^\[\]\n]*)\](?:\[(?P<label>[^\[\]\n]*)\])?(?![(\[:])"
    r"|(?P<img><img\b[^>]*>)",
    re.IGNORECASE,
)
# The same, with links too (``[text](file.csv)``, ``[text][label]``): what ``comment create``
# publishes, as CML does (its remark visitor takes images, links and definitions)
_LINKED = re.compile(
    _IMAGE.pattern.replace(r"\\)!\[", r"\\)(?P<bang>!?)\[", 1).replace(
        r"\\)!\[", r"\\)(?P<rbang>!?)\[", 1
    ),
    re.IGNORECASE,
)
_REF_DEF = re.compile(r"^(?P<lead>[ \t]{0,3}\[[^\]]+\]:\s*)(?P<src><[^>\n]*>|\S+)")
_IMG_SRC = re.compile(r"(\bsrc\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_IMG_ALT = re.compile(r"\balt\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
# Text inside these is literal: code spans (same number of backticks) and HTML comments.
_LITERAL = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)|<!--.*?-->", re.DOTALL)
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


@dataclass(frozen=True)
class Image:
    target: str  # the link (for a reference image, its definition's)
    alt: str


NewTarget = Callable[[str], "str | None"]  # a target -> the new one, or None to keep it
Replacement = Callable[[Image], "str | None"]  # an image -> text in its place, or None


def is_local(target: str) -> bool:
    """No scheme and no host: a file next to the report (``data:``, ``//cdn/x`` are remote)."""
    parts = urlsplit(target.strip())
    return bool(parts.path) and not parts.scheme and not parts.netloc


def _unwrap(src: str) -> str:
    from markdown_it.common.utils import unescapeAll

    return unescapeAll(src[1:-1] if src.startswith("<") and src.endswith(">") else src)


def _markdown_target(new: str) -> str:
    return f"<{new}>" if re.search(r"[\s()<>]", new) else new


def _outside_literals(text: str, edit: Callable[[re.Match[str]], str], links: bool = False) -> str:
    """``_IMAGE`` (``_LINKED``) matches in ``text`` replaced by ``edit``, except inside literal
    text."""
    pattern = _LINKED if links else _IMAGE
    out, pos = [], 0
    for literal in _LITERAL.finditer(text):
        out += [pattern.sub(edit, text[pos : literal.start()]), literal.group()]
        pos = literal.end()
    return "".join([*out, pattern.sub(edit, text[pos:])])


@dataclass
class _Walk:
    """The image-holding source spans of one document, the targets its reference definitions
    give (by normalised label), and the labels images use."""

    lines: list[str]
    spans: list[tuple[int, int, str]]  # (first line, end line, "inline" | "html" | "ref:LABEL")
    defs: dict[str, str]
    used: set[str]

    def text(self, start: int, end: int) -> str:
        return "".join(self.lines[start:end])


def _walk(markdown: str, links: bool = False) -> _Walk:
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import normalizeReference

    env: dict[str, Any] = {}
    lines = _LINE.findall(markdown)  # the parser's line numbers count "\n" only
    spans: list[tuple[int, int, str]] = []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown, env):
        if not token.map:
            continue
        if token.type == "inline" and any(
            c.type == "image"
            or (links and c.type == "link_open")
            or (c.type == "html_inline" and _IMAGE.search(c.content))
            for c in token.children or []
        ):
            spans.append((token.map[0], token.map[1], "inline"))
        elif token.type == "html_block" and "<img" in token.content.lower():
            spans.append((token.map[0], token.map[1], "html"))
    defs: dict[str, str] = {}
    for label, ref in env.get("references", {}).items():
        if ref.get("map"):
            found = _REF_DEF.match("".join(lines[ref["map"][0] : ref["map"][1]]))
            if found:
                defs[label] = _unwrap(found["src"])
                spans.append((ref["map"][0], ref["map"][1], f"ref:{label}"))
    walk = _Walk(lines, sorted(spans), defs, set())

    def collect(m: re.Match[str]) -> str:
        if m["ref_alt"] is not None:
            walk.used.add(normalizeReference(m["label"] or m["ref_alt"]))
        return m.group()

    for start, end, kind in walk.spans:
        if kind == "inline":
            _outside_literals(walk.text(start, end), collect, links)
    return walk


def _edit(
    markdown: str,
    inline: Callable[[re.Match[str], _Walk], str],
    ref: NewTarget,
    links: bool = False,
) -> str:
    """``markdown`` with each image (and link) match in its spans passed through ``inline`` and
    each definition an image (a link) uses through ``ref``."""
    walk = _walk(markdown, links)
    edits: list[tuple[int, int, str]] = []
    for start, end, kind in walk.spans:
        text = walk.text(start, end)
        if kind.startswith("ref:"):
            if kind[4:] not in walk.used:
                continue
            found = _REF_DEF.match(text)
            new = ref(_unwrap(found["src"])) if found else None
            if found is None or new is None:
                continue
            text = found["lead"] + _markdown_target(new) + text[found.end() :]
        elif kind == "html":  # markdown is not parsed inside HTML blocks
            text = _outside_literals(text, lambda m: inline(m, walk) if m["img"] else m.group())
        else:
            text = _outside_literals(text, lambda m: inline(m, walk), links)
        edits.append((start, end, text))
    lines = list(walk.lines)
    for start, end, text in reversed(edits):  # from the end: earlier line numbers still hold
        lines[start:end] = _LINE.findall(text)
    return "".join(lines)


def _images(m: re.Match[str], walk: _Walk) -> Iterator[Image]:
    from markdown_it.common.utils import normalizeReference

    if m["src"] is not None:
        yield Image(_unwrap(m["src"]), m["alt"])
    elif m["ref_alt"] is not None:
        target = walk.defs.get(normalizeReference(m["label"] or m["ref_alt"]))
        if target is not None:  # an undefined label is text, not an image
            yield Image(target, m["ref_alt"])
    elif src := _IMG_SRC.search(m["img"]):
        alt = _IMG_ALT.search(m["img"])
        yield Image(
            html.unescape(src[2].strip("\"'")), html.unescape(alt[1].strip("\"'")) if alt else ""
        )


def find_images(markdown: str, *, links: bool = False) -> list[Image]:
    """Every image ``markdown`` shows (and, with ``links``, every link), in document order."""
    found: list[Image] = []

    def collect(m: re.Match[str], walk: _Walk) -> str:
        found.extend(_images(m, walk))
        return m.group()

    _edit(markdown, collect, lambda target: None, links)
    return found


def rewrite_targets(markdown: str, new_target: NewTarget, *, links: bool = False) -> str:
    """``markdown`` with every image target (and, with ``links``, every link target) passed
    through ``new_target``."""

    def inline(m: re.Match[str], walk: _Walk) -> str:
        if m["src"] is not None:
            new = new_target(_unwrap(m["src"]))
            if new is None:
                return m.group()
            bang = m["bang"] if links else "!"
            return f"{bang}[{m['alt']}]({m['pad']}{_markdown_target(new)}{m['rest']})"
        if m["img"] is None:  # a reference image: its definition is rewritten
            return m.group()

        def attr(s: re.Match[str]) -> str:
            new = new_target(html.unescape(s[2].strip("\"'")))
            quote_char = s[2][0] if s[2][:1] in "\"'" else '"'
            return s.group() if new is None else f"{s[1]}{quote_char}{html.escape(new)}{quote_char}"

        return _IMG_SRC.sub(attr, m["img"], count=1)

    return _edit(markdown, inline, new_target, links)


def replace_images(markdown: str, replacement: Replacement) -> str:
    """``markdown`` with every image replaced by what ``replacement`` gives for it."""

    def inline(m: re.Match[str], walk: _Walk) -> str:
        for image in _images(m, walk):
            new = replacement(image)
            if new is not None:
                return new
        return m.group()

    return _edit(markdown, inline, lambda target: None)


def repoint_images(markdown: str, source_dir: Path, out_dir: Path) -> str:
    """Relative image links written from ``source_dir`` made relative to ``out_dir``."""

    def new_target(target: str) -> str | None:
        if not is_local(target) or target.startswith("/"):
            return None
        path, _, anchor = target.partition("#")
        moved = os.path.relpath((source_dir / unquote(path)).resolve(), out_dir.resolve())
        return quote(Path(moved).as_posix()) + (f"#{anchor}" if anchor else "")

    return rewrite_targets(markdown, new_target)


def images_to_alt_text(markdown: str) -> str:
    """Local images replaced by ``*alt* (image in the PR comment)``: the job summary page
    cannot show files from the runner (remote images are kept)."""

    def alt(image: Image) -> str | None:
        if not is_local(image.target):
            return None
        return f"*{image.alt.strip() or 'image'}* {SUMMARY_NOTE}"

    return replace_images(markdown, alt)
