"""Uploading the local images a markdown report references and rewriting their links.

A report written on the runner links ``plot.png``; a comment on the forge cannot see that file,
so each local image is uploaded to the forge itself (never a third-party host) and the link is
replaced by the forge's URL. A link to a file that does not exist is an error naming it:
posting a report with a broken image would hide the failure until someone opens the PR.

Which links are images is decided by a markdown parser (markdown-it-py, the one rich uses),
not by a pattern: ``![x](a.png)`` inside a code block or a code span is text, a reference-style
``![x][1]`` with ``[1]: plot.png`` is an image, ``plot%20q.png`` names ``plot q.png``.

Only images are published, and only from the report's folder or the git repository holding it:
a report is often generated from data, and a link to ``/etc/hostname`` or ``../../.ssh/x`` must
not copy a runner's file to the assets branch, where anyone who can read the repo sees it.
"""

from __future__ import annotations

import mimetypes
import re
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from cmlinfra.errors import CmlinfraError

# Rewriting happens in the source lines the parser says hold images (never in code blocks):
# ![alt](path "title"), <img src="path"> and reference definitions [label]: path
_MD_IMAGE = re.compile(r"(!\[[^\]]*\]\(\s*)(<[^>]+>|[^)\s]+)(\s+\"[^\"]*\")?(\s*\))")
_HTML_IMAGE = re.compile(r"(<img\b[^>]*?\bsrc=)([\"'])([^\"']+)(\2)", re.IGNORECASE)
_REF_DEF = re.compile(r"^(\s{0,3}\[[^\]]+\]:\s*)(<[^>]+>|\S+)", re.MULTILINE)
_CODE_SPAN = re.compile(r"((?<!`)(`+)(?!`).*?(?<!`)\2(?!`))", re.DOTALL)
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

Uploader = Callable[[Path, str], str]


def mime_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _is_local(link: str) -> bool:
    return bool(link) and not _SCHEME.match(link) and not link.startswith(("#", "//"))


def _path(link: str, base: Path) -> Path | None:
    """The file a local link names (percent-escapes decoded, ?query and #fragment dropped)."""
    from markdown_it.common.utils import unescapeAll

    link = unescapeAll(link.strip().strip("<>"))
    if not _is_local(link):
        return None
    return (base / unquote(link.split("#")[0].split("?")[0])).resolve()


class _ImgSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources += [v for k, v in attrs if k == "src" and v]


def _img_sources(html: str) -> list[str]:
    parser = _ImgSources()
    parser.feed(html)
    parser.close()
    return parser.sources


def _scan(markdown: str) -> tuple[list[str], set[tuple[int, int, str]]]:
    """Image links in document order, and the (first line, end line, kind) source spans
    that hold them: "inline" (paragraphs, headings, table rows), "html" blocks, "ref"
    definitions."""
    from markdown_it import MarkdownIt

    env: dict[str, Any] = {}
    links: list[str] = []
    spans: set[tuple[int, int, str]] = set()
    for token in MarkdownIt("commonmark").enable("table").parse(markdown, env):
        if token.type == "inline" and token.map:
            found = []
            for child in token.children or []:
                if child.type == "image":
                    found.append(str(child.attrs.get("src", "")))
                elif child.type == "html_inline":
                    found += _img_sources(child.content)
            if found:
                links += found
                spans.add((token.map[0], token.map[1], "inline"))
        elif token.type == "html_block" and token.map:
            found = _img_sources(token.content)
            if found:
                links += found
                spans.add((token.map[0], token.map[1], "html"))
    for ref in env.get("references", {}).values():
        if ref.get("map"):
            spans.add((ref["map"][0], ref["map"][1], "ref"))
    return links, spans


def local_images(markdown: str, base: Path) -> list[Path]:
    """Local image files referenced by ``markdown`` (relative to ``base``), in order."""
    seen: dict[Path, None] = {}
    for link in _scan(markdown)[0]:
        path = _path(link, base)
        if path is not None:
            seen.setdefault(path, None)
    return list(seen)


def _allowed_roots(base: Path) -> list[Path]:
    """The report's folder and the top level of the git checkout holding it (if any)."""
    roots = [base.resolve()]
    try:
        done = subprocess.run(
            ["git", "-C", str(base), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return roots
    if done.returncode == 0 and done.stdout.strip():
        roots.append(Path(done.stdout.strip()).resolve())
    return roots


def _check(paths: list[Path], base: Path, source: str) -> None:
    """Refuse, before anything is uploaded, links to missing files, files outside the report's
    folder and repository, and files that are not images."""
    what = source or "the report"
    missing = [p for p in paths if not p.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise CmlinfraError(
            f"{what} links images that do not exist: {names}",
            "write them before posting, fix the links, or pass --no-publish",
        )
    roots = _allowed_roots(base)
    outside = [p for p in paths if not any(p.is_relative_to(r) for r in roots)]
    if outside:
        names = ", ".join(str(p) for p in outside)
        raise CmlinfraError(
            f"{what} links files outside its folder and repository: {names}",
            "only images next to the report or in its repository are published; copy them "
            "there or pass --no-publish",
        )
    not_images = [p for p in paths if not mime_type(p).startswith("image/")]
    if not_images:
        names = ", ".join(f"{p} ({mime_type(p)})" for p in not_images)
        raise CmlinfraError(
            f"{what} links files that are not images: {names}",
            "link images only (.png, .jpg, .gif, .svg, .webp), or pass --no-publish",
        )


def publish_images(markdown: str, base: Path, upload: Uploader, *, source: str = "") -> str:
    """``markdown`` with every local image uploaded once and its links rewritten."""
    paths = local_images(markdown, base)
    _check(paths, base, source)
    urls = {p: upload(p, mime_type(p)) for p in paths}

    def url_for(link: str) -> str | None:
        path = _path(link, base)
        return None if path is None else urls.get(path)

    def md(m: re.Match[str]) -> str:
        url = url_for(m[2])
        return m[0] if url is None else f"{m[1]}{url}{m[3] or ''}{m[4]}"

    def html(m: re.Match[str]) -> str:
        url = url_for(m[3])
        return m[0] if url is None else f"{m[1]}{m[2]}{url}{m[4]}"

    def ref(m: re.Match[str]) -> str:
        url = url_for(m[2])
        return m[0] if url is None else f"{m[1]}{url}"

    def inline(text: str) -> str:  # code spans stay as written
        parts = _CODE_SPAN.split(text)  # [text, span, ticks, text, span, ticks, ...]
        return "".join(
            _HTML_IMAGE.sub(html, _MD_IMAGE.sub(md, part)) if i % 3 == 0 else part
            for i, part in enumerate(parts)
            if i % 3 != 2
        )

    rewrite = {"inline": inline, "html": lambda t: _HTML_IMAGE.sub(html, t)}
    rewrite["ref"] = lambda t: _REF_DEF.sub(ref, t)
    lines = _LINE.findall(markdown)  # the parser's line numbers count "\n" only
    for start, end, kind in sorted(_scan(markdown)[1]):
        lines[start:end] = _LINE.findall(rewrite[kind]("".join(lines[start:end])))
    return "".join(lines)
