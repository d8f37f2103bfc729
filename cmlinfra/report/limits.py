"""Fitting a report into a forge's size limit without breaking its markdown.

Forges reject a comment over their limit (GitHub: 65,536 characters) outright, so a long
training log or plan would lose the whole report. Cutting the text at an arbitrary character
leaves an unclosed code fence or ``<details>`` that swallows the rest of the page, so the cut
goes where the markdown can end cleanly:

1. before a heading at the top level (not inside a code fence, ``<details>`` or HTML comment);
2. when the last heading that fits would keep less than half of the room, at a blank line
   between top-level blocks instead (blocks, tables included, end at blank lines);
3. as a last resort (one block larger than the whole room), at a line boundary inside it,
   closing the open code fence, HTML comment and ``<details>`` elements;
4. when even that keeps less than half of the room (one line longer than the room, such as a
   minified log), inside that line: at a space when one is near, else at any character, but
   never inside an HTML tag, a link or image, an inline code span, a URL or an entity.

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
_UNCUTTABLE = re.compile(  # spans a character cut must not split (unclosed ones run to the end)
    r"<[^>]*>?"  # HTML tag, autolink
    r"|!?\[[^\]]*(?:\](?:\([^)]*\)?|\[[^\]]*\]?)?)?"  # [link](url), ![image](src), [ref][1]
    r"|(`+).*?(?:\1|$)"  # inline code
    r"|(?:https?|ftp)://\S+|www\.\S+"  # bare URLs GitHub turns into links
    r"|&#?\w+;"  # entity
)
_NEAR = 200  # how far back from the room's end a space is still worth cutting at


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
    if len(kept) < room // 2:
        kept = max(kept, _cut_line(markdown, lines, room), key=len)
    return kept.strip("\n") if kept.strip() else ""


def _cut_line(markdown: str, lines: list[_Line], room: int) -> str:
    """The text before the line that crosses ``room``, plus as much of that line as fits, cut
    by characters outside tags, links, code spans, URLs and entities, with closers."""
    line = next((ln for ln in reversed(lines) if ln.start <= room), None)
    if line is None or line.fence or _FENCE.match(line.text):  # fences: handled by _cut
        return ""
    body = line.text.rstrip("\r\n")
    blocked = bytearray(len(body) + 1)  # 1 where a cut would split a span
    for match in _UNCUTTABLE.finditer(body):
        blocked[match.start() + 1 : match.end()] = b"\1" * (match.end() - match.start() - 1)
    space = room - line.start - 1
    while space > 0:
        end = min(space, len(body))
        cuts = [p for p in range(end, max(0, end - _NEAR), -1) if not blocked[p]]
        near = [p for p in cuts if body[p - 1 : p + 1].strip() != body[p - 1 : p + 1]]
        cut = (near or cuts or [0])[0]
        while cut > 0 and blocked[cut]:  # nothing near: the last cut point further back
            cut -= 1
        if cut <= 0:
            return ""
        partial = body[:cut].rstrip()
        details, comment = _scan_html(partial, line.details, line.comment)
        closers = "\n".join(["-->"] * comment + ["</details>"] * details)
        text = markdown[: line.start] + partial + ("\n" + closers if closers else "")
        if len(text) <= room:
            return text
        space = cut - (len(text) - room)
    return ""


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
