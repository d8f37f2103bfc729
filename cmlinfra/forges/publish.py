"""Uploading the local images a markdown report references and rewriting their links.

A report written on the runner links ``plot.png``; a comment on the forge cannot see that file,
so each local image is uploaded to the forge itself (never a third-party host) and the link is
replaced by the forge's URL. A link to a file that does not exist is an error naming it:
posting a report with a broken image would hide the failure until someone opens the PR.

Which links are images, and where they are written, is cmlinfra/report/links.py's business
(the same rules ``report build`` uses): this module decides which files may leave the runner.

Only images are published, and only from the report's folder or the git repository holding it:
a report is often generated from data, and a link to ``/etc/hostname`` or ``../../.ssh/x`` must
not copy a runner's file to the assets branch, where anyone who can read the repo sees it.
"""

from __future__ import annotations

import mimetypes
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.links import find_images, is_local, rewrite_targets

Uploader = Callable[[Path, str], str]


def mime_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _path(target: str, base: Path) -> Path | None:
    """The file a local link names (percent-escapes decoded, ?query and #fragment dropped)."""
    if not is_local(target):
        return None
    return (base / unquote(target.strip().split("#")[0].split("?")[0])).resolve()


def local_images(markdown: str, base: Path) -> list[Path]:
    """Local image files referenced by ``markdown`` (relative to ``base``), in order."""
    seen: dict[Path, None] = {}
    for image in find_images(markdown):
        path = _path(image.target, base)
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

    def url_for(target: str) -> str | None:
        path = _path(target, base)
        return None if path is None else urls.get(path)

    return rewrite_targets(markdown, url_for)
