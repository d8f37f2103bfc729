"""Posting a report as a comment: where it goes, the watermark, the size limit.

One report per watermark: the comment carries a hidden marker
``<!-- cmlinfra:watermark TITLE -->`` and an update finds it by that marker and edits it in
place, so a PR that runs training ten times has one report, not ten. Finding it costs one
listing, writing it one request.

An update also finds the comments CML itself posted: CML's watermark is an image,
``![](https://cml.dev/watermark.png#SHA "CML watermark TITLE")`` (underscores, asterisks,
``[`` and ``<`` in the title backslash-escaped), so the first run after migrating edits CML's
last report instead of adding a second one. cmlinfra never writes CML's image (it would make
every reader's browser fetch it from cml.dev); the updated comment carries cmlinfra's marker.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from cmlinfra.errors import UsageError
from cmlinfra.forges.base import Comment, Forge, Target

log = logging.getLogger("cmlinfra.forges")

MARKER = "<!-- cmlinfra:watermark{title} -->"
# CML's watermark (iterative/cml src/watermark.js): an image whose URL fragment is the commit
CML_WATERMARK = re.compile(
    r'!\[\]\(https://cml\.dev/watermark\.png#[0-9a-fA-F]+ "(?P<title>(?:[^"\\]|\\.)*)"\)'
)
_CML_ESCAPED = re.compile(r"\\([_*\[<])")
TARGET_KINDS = ("pr", "commit", "issue")
TRUNCATED_NOTE = "The full report is in the CI job's log and artifacts."


def watermark(title: str = "") -> str:
    """The hidden marker for ``title`` (``--`` and ``>`` removed: they would end the comment)."""
    clean = " ".join(title.replace("--", "-").replace(">", "").split())
    return MARKER.format(title=f" {clean}" if clean else "")


def has_watermark(body: str, title: str = "") -> bool:
    mark = watermark(title)
    return any(line.strip() == mark for line in body.splitlines())


def has_cml_watermark(body: str, title: str = "") -> bool:
    """Whether ``body`` carries CML's own watermark for ``title`` (its ``--watermark-title``
    after ``{workflow}``/``{run}`` were replaced; "" for CML's default)."""
    wanted = f"CML watermark {title}".strip()
    return any(_CML_ESCAPED.sub(r"\1", m["title"]) == wanted for m in CML_WATERMARK.finditer(body))


def is_report(body: str, title: str = "") -> bool:
    """A comment ``comment update`` may edit: cmlinfra's marker or CML's watermark."""
    return has_watermark(body, title) or has_cml_watermark(body, title)


def parse_target(spec: str | None) -> tuple[str, str] | None:
    """``pr``, ``commit``, ``issue/12``, ``pr/3``, ``commit/<sha>`` → (kind, ref or "");
    ``auto`` (CML's default) → None; the kind in any case, as CML reads it (``PR/3``)."""
    if not spec or spec.strip().lower() == "auto":
        return None
    kind, _, ref = spec.strip().partition("/")
    kind = kind.lower()
    if kind not in TARGET_KINDS or (kind == "issue" and not ref):
        raise UsageError(
            f"--target {spec!r} is not auto, pr, commit, issue/N, pr/N or commit/SHA",
            "for example --target pr or --target issue/12",
        )
    if kind in ("pr", "issue") and ref and not ref.isdigit():
        raise UsageError(f"--target {spec!r}: {kind} needs a number", f"write --target {kind}/12")
    return kind, ref


def resolve_target(forge: Forge, spec: str | None, *, commit: str, pr: int | None) -> Target:
    """Where the comment goes. Default (as CML): the PR of the current commit if there is
    one, else the commit itself. A PR number known from the CI event saves the lookup."""
    parsed = parse_target(spec)
    if parsed and parsed[1]:
        return Target(parsed[0], parsed[1])  # type: ignore[arg-type]
    kind = parsed[0] if parsed else None
    if kind in (None, "pr"):
        if pr is not None:
            return Target("pr", str(pr))
        if not commit:
            raise UsageError("no commit to comment on", "run inside a git checkout or in CI")
        found = forge.pr_for_commit(commit)
        if found is not None:
            return Target("pr", str(found.number))
        if kind == "pr":
            raise UsageError(
                f"no open pull request contains commit {commit[:12]}",
                "open one first, or use --target commit",
            )
        log.info("no open pull request for %s: commenting on the commit", commit[:12])
    if not commit:
        raise UsageError("no commit to comment on", "run inside a git checkout or in CI")
    return Target("commit", commit)


@dataclass(frozen=True)
class Posted:
    comment: Comment
    target: Target
    updated: bool
    truncated: bool


def fit(forge: Forge, markdown: str, title: str, *, mark: bool = True) -> tuple[str, bool]:
    """The report with its watermark (unless ``mark`` is off: CML's ``--rm-watermark``), cut
    at a section boundary if over the forge's limit."""
    from cmlinfra.report.limits import fit_to_limit

    marker = watermark(title) if mark else ""
    reserve = len(marker) + 2 if mark else 0
    body = fit_to_limit(markdown, forge.comment_limit, TRUNCATED_NOTE, reserve=reserve)
    return (f"{body.rstrip()}\n\n{marker}" if mark else body), body != markdown


def post(
    forge: Forge,
    target: Target,
    markdown: str,
    *,
    title: str = "",
    update: bool = False,
    mark: bool = True,
) -> Posted:
    """Create the comment, or with ``update`` edit the newest one carrying the same
    watermark — cmlinfra's or CML's (creating it the first time)."""
    if update and not mark:
        raise UsageError(
            "--rm-watermark leaves nothing to find the comment by next time",
            "drop --rm-watermark to update the comment, or use comment create",
        )
    body, truncated = fit(forge, markdown, title, mark=mark)
    if update:
        mine = [c for c in forge.list_comments(target) if is_report(c.body, title)]
        if mine and mine[-1].body == body:
            return Posted(mine[-1], target, True, truncated)  # nothing new: no write at all
        if mine:
            comment = forge.update_comment(target, mine[-1], body)
            return Posted(comment, target, True, truncated)
    return Posted(forge.create_comment(target, body), target, False, truncated)


def expand_title(title: str, *, workflow: str, run: str) -> str:
    """CML's placeholders: ``{workflow}`` and ``{run}``."""
    return re.sub(r"\{(workflow|run)\}", lambda m: workflow if m[1] == "workflow" else run, title)
