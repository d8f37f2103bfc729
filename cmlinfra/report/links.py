"""Local image links in report markdown: re-pointed when the report moves, or replaced by
their alt text where the images cannot follow (the job summary page).

A section written next to its figures (``notes/n.md`` with ``![fig](fig.png)``) and copied
into ``out/report.md`` would link ``out/fig.png``; ``comment create --publish`` then fails and
the PR shows a broken image. Only what renders as an image is touched: inline images,
reference definitions an image uses, and ``<img src>``; code fences and inline code are left
as written. A link is local when it has no scheme or host (``data:`` counts as remote).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from cmlinfra.report.limits import scan

SUMMARY_NOTE = "(image in the PR comment)"

_INLINE = re.compile(
    r"!\[(?P<alt>(?:[^\[\]\n]|\[[^\]\n]*\])*)\]\((?P<pad>[ \t]*)(?P<src><[^>\n]*>|[^)\s]+)"
    r"(?P<rest>[^)\n]*)\)"
)
_REF_USE = re.compile(r"!\[(?P<alt>[^\[\]\n]*)\](?:\[(?P<label>[^\[\]\n]*)\])?(?![(\[:])")
_REF_DEF = re.compile(r"^(?P<lead> {0,3}\[(?P<label>[^\]\n]+)\]:[ \t]*)(?P<src><[^>\n]*>|\S+)")
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_IMG_SRC = re.compile(r"(\bsrc\s*=\s*)(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_IMG_ALT = re.compile(r"\balt\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_CODE = re.compile(r"(`+)[^`]*?\1")

# Given a link target as written (no <>), the new target, or None to leave it as it is.
Rewrite = Callable[[str], "str | None"]


def _bare(src: str) -> str:
    return src[1:-1] if src.startswith("<") and src.endswith(">") else src


def is_local(src: str) -> bool:
    parts = urlsplit(_bare(src).strip())
    return bool(parts.path) and not parts.scheme and not parts.netloc


def _label(text: str) -> str:
    return " ".join(text.lower().split())


def _outside_code(markdown: str, edit: Callable[[str], str]) -> str:
    """``edit`` applied to the text outside fenced blocks and inline code spans."""
    out = []
    for line in scan(markdown):
        if line.fence or line.comment:
            out.append(line.text)
            continue
        pos, parts = 0, []
        for span in _CODE.finditer(line.text):
            parts += [edit(line.text[pos : span.start()]), span.group()]
            pos = span.end()
        out.append("".join([*parts, edit(line.text[pos:])]))
    return "".join(out)


def _image_labels(markdown: str) -> set[str]:
    """The reference labels images use (``![x][1]``, ``![x]``), lower-cased."""
    labels: set[str] = set()

    def collect(text: str) -> str:
        labels.update(_label(m["label"] or m["alt"]) for m in _REF_USE.finditer(text))
        return text

    _outside_code(markdown, collect)
    return labels


def rewrite_images(markdown: str, rewrite: Rewrite) -> str:
    """Every image target outside code passed through ``rewrite``."""
    labels = _image_labels(markdown)

    def new(src: str, html_attr: bool = False) -> str:
        quote_char = src[0] if html_attr and src[:1] in "\"'" else ""
        bare = src[1:-1] if quote_char else _bare(src)
        target = rewrite(bare)
        if target is None:
            return src
        if quote_char:
            return f"{quote_char}{html.escape(target)}{quote_char}"
        return f"<{target}>" if src.startswith("<") else target

    def edit(text: str) -> str:
        text = _INLINE.sub(lambda m: f"![{m['alt']}]({m['pad']}{new(m['src'])}{m['rest']})", text)
        ref = _REF_DEF.match(text)
        if ref and _label(ref["label"]) in labels:
            text = ref["lead"] + new(ref["src"]) + text[ref.end() :]
        return _IMG.sub(
            lambda m: _IMG_SRC.sub(lambda s: s[1] + new(s[2], html_attr=True), m.group()), text
        )

    return _outside_code(markdown, edit)


def repoint_images(markdown: str, source_dir: Path, out_dir: Path) -> str:
    """Relative image links written from ``source_dir`` made relative to ``out_dir``."""

    def rewrite(src: str) -> str | None:
        if not is_local(src) or src.startswith("/"):
            return None
        path, _, anchor = src.partition("#")
        moved = os.path.relpath((source_dir / unquote(path)).resolve(), out_dir.resolve())
        return quote(Path(moved).as_posix()) + (f"#{anchor}" if anchor else "")

    return rewrite_images(markdown, rewrite)


def images_to_alt_text(markdown: str) -> str:
    """Local images replaced by ``*alt* (image in the PR comment)``: the job summary page
    cannot show files from the runner (remote images are kept)."""
    defs: dict[str, str] = {}

    def collect(text: str) -> str:
        ref = _REF_DEF.match(text)
        if ref:
            defs.setdefault(_label(ref["label"]), _bare(ref["src"]))
        return text

    _outside_code(markdown, collect)

    def alt(text: str) -> str:
        text = text.strip() or "image"
        return f"*{text}* {SUMMARY_NOTE}"

    def edit(text: str) -> str:
        text = _INLINE.sub(lambda m: alt(m["alt"]) if is_local(m["src"]) else m.group(), text)
        text = _REF_USE.sub(
            lambda m: (
                alt(m["alt"])
                if is_local(defs.get(_label(m["label"] or m["alt"]), "http://x"))
                else m.group()
            ),
            text,
        )

        def img(m: re.Match[str]) -> str:
            src = _IMG_SRC.search(m.group())
            if not src or not is_local(src[2].strip("\"'")):
                return m.group()
            found = _IMG_ALT.search(m.group())
            return alt(html.unescape(found[1].strip("\"'")) if found else "")

        return _IMG.sub(img, text)

    return _outside_code(markdown, edit)
