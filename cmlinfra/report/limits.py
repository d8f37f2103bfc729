"""Fitting a report into a forge's size limit without breaking its markdown.

Forges reject a comment over their limit (GitHub: 65,536 characters) outright, so a long
training log or plan would lose the whole report. Cutting the text at an arbitrary character
leaves an unclosed code fence or ``<details>`` that swallows the rest of the page, so the cut
goes where the markdown can end cleanly:

1. before a heading at the top level (not inside a code fence, ``<details>`` or HTML comment);
2. when the last heading that fits would keep less than half of the room, at a blank line
   between top-level blocks instead (blocks, tables included, end at blank lines);
3. as a last resort (one block larger than the whole room), at a line boundary inside it,
   closing the open code fence, HTML comment and ``<details>`` elements.

A visible note is appended, and the result (note included) plus ``reserve`` characters (for a
watermark the caller adds afterwards) never exceeds the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GITHUB_COMMENT_LIMIT = 65_536

DEFAULT_NOTE = "The full report is in the CI job's log and artifacts."

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]|$)")
_DETAILS_OPEN = re.compile(r"<details(?=[\s>])", re.IGNORECASE)
_DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
_INLINE_CODE = re.compile(r"`+[^`\n]*`+")
_BLANK = re.compile(r"^\s*$")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")  # only \n ends a line, as for markdown renderers


@dataclass(frozen=True)
class _Line:
    """A line of the document with the markdown state in force where it starts."""

    start: int  # offset of the line's first character
    text: str  # with its line ending
    fence: str  # the open fence marker ("```", "~~~~") or ""
    details: int  # open <details> elements
    comment: bool  # inside an HTML comment

    @property
    def top_level(self) -> bool:
        return not self.fence and not self.details and not self.comment

    def closers(self) -> str:
        """What makes the document well-formed if it is cut just before this line."""
        parts = []
        if self.fence:
            parts.append(self.fence)
        if self.comment:
            parts.append("-->")
        parts.extend("</details>" for _ in range(self.details))
        return "\n".join(parts)


def _scan_html(text: str, details: int, comment: bool) -> tuple[int, bool]:
    """Update (open details, inside comment) over one line outside code fences."""
    text = _INLINE_CODE.sub("", text)
    pos = 0
    while pos < len(text):
        if comment:
            end = text.find("-->", pos)
            if end < 0:
                return details, True
            comment, pos = False, end + 3
            continue
        start = text.find("<!--", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        opens = len(_DETAILS_OPEN.findall(chunk))
        closes = len(_DETAILS_CLOSE.findall(chunk))
        details = max(0, details + opens - closes)
        if start < 0:
            break
        comment, pos = True, start + 4
    return details, comment


def scan(markdown: str) -> list[_Line]:
    """Every line with the fence/details/comment state at its start (a tiny, conservative
    block scanner: enough to know where a cut is safe, not a markdown parser)."""
    lines: list[_Line] = []
    fence, details, comment, offset = "", 0, False, 0
    for text in _LINE.findall(markdown):
        lines.append(_Line(offset, text, fence, details, comment))
        offset += len(text)
        body = text.rstrip("\r\n")
        match = None if comment else _FENCE.match(body)
        if fence:
            marker = match.group(1) if match and not match.group(2).strip() else ""
            if marker[:1] == fence[0] and len(marker) >= len(fence):  # a closing fence
                fence = ""
        elif match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
        else:
            details, comment = _scan_html(body, details, comment)
    return lines


def truncation_note(limit: int, note: str) -> str:
    """The visible note appended to a cut report."""
    return (
        f"\n\n---\n\n> **This report was truncated** to fit {limit:,} characters. {note.strip()}\n"
    )


def _cut(markdown: str, room: int) -> str:
    """The longest well-formed prefix (plus closers) of ``markdown`` within ``room``."""
    end = markdown.find("\n", room)  # nothing after the line holding offset ``room`` matters
    lines = scan(markdown if end < 0 else markdown[: end + 1])
    headings = [
        ln.start for ln in lines if ln.top_level and _HEADING.match(ln.text) and ln.start <= room
    ]
    best = max((h for h in headings if h > 0), default=0)
    if best < room // 2:
        blanks = [  # not just after a heading: that would leave the heading dangling
            ln.start
            for prev, ln in zip([None, *lines], lines, strict=False)
            if ln.top_level and _BLANK.match(ln.text) and not (prev and _HEADING.match(prev.text))
        ]
        best = max([best, *(b for b in blanks if 0 < b <= room)])
    if best > 0:
        return markdown[:best].rstrip()
    # Last resort: one block is larger than the room; cut inside it at a line and close it.
    kept = ""
    for line in lines:
        if line.start > room:
            break
        closers = line.closers()
        if line.start + len(closers) <= room:  # the text before ends with a newline
            kept = markdown[: line.start] + closers
        if line.fence and not _FENCE.match(line.text):  # literal text: may be cut mid-line
            space = room - line.start - len(closers) - 1
            partial = line.text.rstrip("\r\n")[: max(0, space)]
            if partial:
                kept = markdown[: line.start] + partial + "\n" + closers
    return kept.strip("\n") if kept.strip() else ""


def fit_to_limit(
    markdown: str,
    limit: int = GITHUB_COMMENT_LIMIT,
    note: str = DEFAULT_NOTE,
    *,
    reserve: int = 0,
) -> str:
    """``markdown`` unchanged if it fits in ``limit - reserve`` characters, else cut at a safe
    boundary with a truncation note (``note`` says where the full report is) appended.

    ``reserve`` is room kept free for what the caller appends afterwards (a watermark).
    """
    room = limit - reserve
    if len(markdown) <= room:
        return markdown
    tail = truncation_note(limit, note)
    if len(tail) > room:
        tail = truncation_note(limit, "")
    if len(tail) > room:
        raise ValueError(f"a limit of {limit} with {reserve} reserved leaves no room for a note")
    kept = _cut(markdown, room - len(tail))
    return (kept + tail) if kept else tail.lstrip("\n")
