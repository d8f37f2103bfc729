"""Uploading the local files a markdown report references and rewriting their links, as CML does.

A report written on the runner links ``plot.png``; a comment on the forge cannot see that file,
so each local file is uploaded to the forge itself (never a third-party host) and the link is
replaced by the forge's URL. As in CML: images *and* links (``[metrics](out/metrics.csv)``) are
published, a link to a file that does not exist is left as written (with a warning, where CML
only logs it at debug level), and an image embedded as a ``data:image/…;base64`` URI (what DVC
and dvclive write into their reports) is uploaded and replaced by a link, because forges do not
show embedded images.

Which links are images, and where they are written, is cmlinfra/report/links.py's business
(the same rules ``report build`` uses): this module decides which files may leave the runner.

- Only from the report's folder or the git repository holding it: a report is often generated
  from data, and a link to ``/etc/hostname`` or ``../../.ssh/x`` must not copy a runner's file
  to the forge, where anyone who can read the repository sees it (refused, naming the files).
- The MIME type comes from the content (``filetype`` reads the magic numbers), never the name
  alone: a file whose name says image or video but whose content is not one (a text file called
  ``plot.png``) is not uploaded at all, with a warning.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from cmlinfra.errors import CmlinfraError
from cmlinfra.report.links import find_images, is_local, rewrite_targets

Uploader = Callable[[Path, str], str]
log = logging.getLogger("cmlinfra.forges")

_TEXT_TYPES = {".csv": "text/csv", ".tsv": "text/tab-separated-values", ".md": "text/markdown"}


def claimed_type(path: Path) -> str:
    """What the file's name says it is (``application/octet-stream`` when it says nothing)."""
    return _TEXT_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def sniff(data: bytes, name: str = "") -> str:
    """The MIME type of ``data`` from its content: magic numbers for binary formats (images,
    video, audio, archives, PDF), an ``<svg`` root for SVG, else text (the name's text type,
    or ``text/plain``) when it decodes as UTF-8, else ``application/octet-stream``."""
    import filetype

    found = filetype.guess_mime(data[:8192])
    if found:
        return str(found)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a cut in the middle of a character is still text
        if exc.start < len(head) - 4:
            return "application/octet-stream"
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        return "application/octet-stream"
    lowered = text.lower()
    if lowered.startswith("<svg") or (lowered.startswith("<?xml") and "<svg" in lowered):
        return "image/svg+xml"
    claimed = claimed_type(Path(name)) if name else ""
    if claimed.startswith("text/") or claimed in ("application/json", "application/xml"):
        return claimed
    return "text/plain"


def mime_type(path: Path) -> str:
    """The MIME type of the file at ``path``, from its content."""
    with path.open("rb") as handle:
        return sniff(handle.read(8192), path.name)


def lies(claimed: str, actual: str) -> bool:
    """Whether a name claims an image / video / audio type that the content is not."""
    major = claimed.split("/")[0]
    return major in ("image", "video", "audio") and actual.split("/")[0] != major


def _path(target: str, base: Path) -> Path | None:
    """The file a local link names (percent-escapes decoded, ?query and #fragment dropped)."""
    if not is_local(target):
        return None
    return (base / unquote(target.strip().split("#")[0].split("?")[0])).resolve()


def local_images(markdown: str, base: Path) -> list[Path]:
    """Local files referenced by ``markdown`` as images or links (relative to ``base``)."""
    seen: dict[Path, None] = {}
    for image in find_images(markdown, links=True):
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


@dataclass
class Plan:
    """What publishing one report will do: files to upload with their type, and why others
    are left alone (a warning each)."""

    uploads: dict[Path, str]  # path → MIME type
    skipped: list[str]


def plan(paths: list[Path], base: Path, source: str) -> Plan:
    """Refuse, before anything is uploaded, files outside the report's folder and repository;
    skip (with a reason) missing files, folders and files whose name lies about their type."""
    what = source or "the report"
    existing = [p for p in paths if p.exists()]
    roots = _allowed_roots(base)
    outside = [p for p in existing if not any(p.is_relative_to(r) for r in roots)]
    if outside:
        names = ", ".join(str(p) for p in outside)
        raise CmlinfraError(
            f"{what} links files outside its folder and repository: {names}",
            "only files next to the report or in its repository are published; copy them "
            "there or pass --no-publish",
        )
    result = Plan({}, [])
    for path in paths:
        if not path.exists():
            result.skipped.append(f"{path}: no such file, its link is left as written")
        elif not path.is_file():
            result.skipped.append(f"{path}: not a file, its link is left as written")
        else:
            actual, claimed = mime_type(path), claimed_type(path)
            if lies(claimed, actual):
                result.skipped.append(
                    f"{path}: named like {claimed} but its content is {actual}: not uploaded"
                )
            else:
                result.uploads[path] = actual
    return result


def _data_uri(target: str) -> tuple[str, bytes] | None:
    """(declared type, bytes) of a ``data:image/…;base64,…`` URI, or None."""
    text = target.strip()
    if not text.lower().startswith("data:image/"):
        return None
    header, comma, payload = text.partition(",")
    if not comma or ";base64" not in header.lower():
        return None
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    return header[5:].split(";")[0].lower(), data


def publish_images(markdown: str, base: Path, upload: Uploader, *, source: str = "") -> str:
    """``markdown`` with every local file (image or link) and every embedded ``data:image``
    uploaded once and its links rewritten; what cannot be published is left as written, with a
    warning."""
    found = plan(local_images(markdown, base), base, source)
    for reason in found.skipped:
        log.warning("warning: %s", reason)
    urls = {p: upload(p, mime) for p, mime in found.uploads.items()}
    embedded: dict[str, str | None] = {}

    with tempfile.TemporaryDirectory(prefix="cmlinfra-embedded-") as scratch:

        def url_for(target: str) -> str | None:
            if target in embedded:
                return embedded[target]
            decoded = _data_uri(target)
            if decoded is not None:
                embedded[target] = _upload_embedded(decoded, Path(scratch), upload)
                return embedded[target]
            path = _path(target, base)
            return None if path is None else urls.get(path)

        return rewrite_targets(markdown, url_for, links=True)


def _upload_embedded(decoded: tuple[str, bytes], scratch: Path, upload: Uploader) -> str | None:
    declared, data = decoded
    actual = sniff(data)
    if not actual.startswith("image/"):
        log.warning(
            "warning: an embedded %s image holds %s, not an image: left as it is", declared, actual
        )
        return None
    extension = mimetypes.guess_extension(actual) or ".bin"
    file = scratch / f"embedded-{hashlib.sha256(data).hexdigest()[:16]}{extension}"
    file.write_bytes(data)
    return upload(file, actual)


def run_url(driver: str, web_url: str, repo: str, run_id: str) -> str:
    """The CI run's page, where a workflow's uploaded artifacts are listed."""
    if driver == "github":
        return f"{web_url}/{repo}/actions/runs/{run_id}#artifacts"
    if driver == "gitlab":
        return f"{web_url}/{repo}/-/pipelines/{run_id}"
    return f"{web_url}/{repo}/pipelines/results/{run_id}"


def link_to_run(markdown: str, base: Path, url: str) -> str:
    """``comment create --assets run``: nothing is uploaded; each local image becomes a link
    ``[ALT (FILE)](RUN PAGE)`` and each local link points at the run's page, where the workflow
    keeps them as artifacts — so the token needs no write access to the repository's contents."""
    from cmlinfra.report.links import replace_images

    def image(found: object) -> str | None:
        target, alt = found.target, found.alt  # type: ignore[attr-defined]
        if not is_local(target):
            return None
        name = unquote(target.split("#")[0].split("?")[0]).removeprefix("./")
        return f"[{alt.strip() or 'image'} ({name})]({url})"

    text = replace_images(markdown, image)
    return rewrite_targets(
        text, lambda t: url if is_local(t) and _path(t, base) is not None else None, links=True
    )
