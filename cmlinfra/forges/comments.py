"""Posting a report as a comment: where it goes, the watermark, the size limit.

One report per watermark: the comment carries a hidden marker
``<!-- cmlinfra:watermark TITLE -->`` and an update finds it by that marker and edits it in
place, so a PR that runs training ten times has one report, not ten. Finding it costs one
listing, writing it one request.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from cmlinfra.errors import UsageError
from cmlinfra.forges.base import Comment, Forge, Target

log = logging.getLogger("cmlinfra.forges")

MARKER = "<!-- cmlinfra:watermark{title} -->"
TRUNCATED_NOTE = "The full report is in the CI job's log and artifacts."


def watermark(title: str = "") -> str:
    """The hidden marker for ``title`` (``--`` and ``>`` removed: they would end the comment)."""
    clean = " ".join(title.replace("--", "-").replace(">", "").split())
    return MARKER.format(title=f" {clean}" if clean else "")


def has_watermark(body: str, title: str = "") -> bool:
    mark = watermark(title)
    return any(line.strip() == mark for line in body.splitlines())


def parse_target(spec: str | None) -> tuple[str, str] | None:
    """``pr``, ``commit``, ``issue/12``, ``pr/3``, ``commit/<sha>`` → (kind, ref or "")."""
    if not spec:
        return None
    kind, _, ref = spec.partition("/")
    if kind not in ("pr", "commit", "issue") or (kind == "issue" and not ref):
        raise UsageError(
            f"--target {spec!r} is not pr, commit, issue/N, pr/N or commit/SHA",
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


def fit(forge: Forge, markdown: str, title: str) -> tuple[str, bool]:
    """The report with its watermark, cut at a section boundary if over the forge's limit."""
    from cmlinfra.report.limits import fit_to_limit

    mark = watermark(title)
    reserve = len(mark) + 2
    body = fit_to_limit(markdown, forge.comment_limit, TRUNCATED_NOTE, reserve=reserve)
    return f"{body.rstrip()}\n\n{mark}", body != markdown


def post(
    forge: Forge, target: Target, markdown: str, *, title: str = "", update: bool = False
) -> Posted:
    """Create the comment, or with ``update`` edit the newest one carrying the same
    watermark (creating it the first time)."""
    body, truncated = fit(forge, markdown, title)
    if update:
        mine = [c for c in forge.list_comments(target) if has_watermark(c.body, title)]
        if mine and mine[-1].body == body:
            return Posted(mine[-1], target, True, truncated)  # nothing new: no write at all
        if mine:
            comment = forge.update_comment(target, mine[-1], body)
            return Posted(comment, target, True, truncated)
    return Posted(forge.create_comment(target, body), target, False, truncated)


def expand_title(title: str, *, workflow: str, run: str) -> str:
    """CML's placeholders: ``{workflow}`` and ``{run}``."""
    return re.sub(r"\{(workflow|run)\}", lambda m: workflow if m[1] == "workflow" else run, title)
