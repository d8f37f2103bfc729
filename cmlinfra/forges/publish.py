"""Uploading the local images a markdown report references and rewriting its links.

A report written on the runner links ``plot.png``; a comment on the forge cannot see that file,
so each local image is uploaded to the forge itself (never a third-party host) and the link is
replaced by the forge's URL. A link to a file that does not exist is an error naming it:
posting a report with a broken image would hide the failure until someone opens the PR.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from pathlib import Path

from cmlinfra.errors import CmlinfraError

# ![alt](path "title") and <img src="path">; a URL with a scheme (https:, data:) is not local
_MD_IMAGE = re.compile(r"(!\[[^\]]*\]\(\s*)(<[^>]+>|[^)\s]+)(\s+\"[^\"]*\")?(\s*\))")
_HTML_IMAGE = re.compile(r"(<img\b[^>]*?\bsrc=)([\"'])([^\"']+)(\2)", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

Uploader = Callable[[Path, str], str]


def mime_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _is_local(link: str) -> bool:
    return bool(link) and not _SCHEME.match(link) and not link.startswith(("#", "//"))


def local_images(markdown: str, base: Path) -> list[Path]:
    """Local image files referenced by ``markdown`` (relative to ``base``), in order."""
    links = [m[2].strip("<>") for m in _MD_IMAGE.finditer(markdown)]
    links += [m[3] for m in _HTML_IMAGE.finditer(markdown)]
    seen: dict[Path, None] = {}
    for link in links:
        if _is_local(link):
            seen.setdefault((base / link.split("#")[0].split("?")[0]).resolve(), None)
    return list(seen)


def publish_images(markdown: str, base: Path, upload: Uploader, *, source: str = "") -> str:
    """``markdown`` with every local image uploaded once and its links rewritten."""
    paths = local_images(markdown, base)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise CmlinfraError(
            f"{source or 'the report'} links images that do not exist: {names}",
            "write them before posting, fix the links, or pass --no-publish",
        )
    urls = {p: upload(p, mime_type(p)) for p in paths}

    def url_for(link: str) -> str | None:
        if not _is_local(link):
            return None
        return urls.get((base / link.split("#")[0].split("?")[0]).resolve())

    def md(m: re.Match[str]) -> str:
        url = url_for(m[2].strip("<>"))
        return m[0] if url is None else f"{m[1]}{url}{m[3] or ''}{m[4]}"

    def html(m: re.Match[str]) -> str:
        url = url_for(m[3])
        return m[0] if url is None else f"{m[1]}{m[2]}{url}{m[4]}"

    return _HTML_IMAGE.sub(html, _MD_IMAGE.sub(md, markdown))
