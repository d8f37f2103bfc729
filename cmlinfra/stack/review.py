"""Plan review on the pull request: ``cmlinfra stack plan --comment``.

The terraform engine and the forge drivers must not know each other (DEVELOPERS.md), so this
module is where they meet: the engine's saved plan (its summary and ``terraform show`` text)
becomes a tfcmt-style comment (``cmlinfra.report.plan``) that a forge driver posts. The comment
carries a watermark, so the next push *edits* it instead of adding another: a PR keeps one plan
comment that always shows what applying the latest commit would do.

The forge is found and the target resolved *before* terraform runs (:func:`find_target`), so a
missing CI context or a rejected token fails in a second, with nothing planned or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cmlinfra.errors import CmlinfraError

if TYPE_CHECKING:
    from cmlinfra.forges.base import Forge, Target
    from cmlinfra.forges.comments import Posted
    from cmlinfra.stack.service import Planned, Prepared

DEFAULT_TITLE = "cmlinfra plan {name}"
NO_FORGE_FIX = (
    "run it in a CI job (GitHub Actions, GitLab CI or Bitbucket Pipelines set the repository "
    "and commit variables) with REPO_TOKEN set, or pass --driver, --repo and set REPO_TOKEN"
)


@dataclass(frozen=True)
class Review:
    """Where the plan comment goes, decided before planning."""

    forge: Forge
    target: Target
    title: str  # the watermark title: one comment per title and target


def find_target(
    forge: Forge, *, target: str | None, commit: str, pr: int | None, title: str
) -> Review:
    """The PR of the current commit, else the commit (``comment create``'s default), or the
    explicit ``--target``. Asking the forge for the PR also proves the token works."""
    from cmlinfra.forges.comments import resolve_target

    return Review(forge, resolve_target(forge, target, commit=commit, pr=pr), title)


def no_forge(exc: CmlinfraError) -> CmlinfraError:
    """``cannot tell which forge this is`` with the variables that would tell it."""
    return type(exc)(exc.problem, NO_FORGE_FIX)


def plan_markdown(prepared: Prepared, planned: Planned, *, limit: int) -> str:
    """The comment body (without the watermark, which ``comments.post`` appends)."""
    from cmlinfra.report.plan import plan_comment
    from cmlinfra.stack.service import plan_text

    return plan_comment(
        planned.summary,
        plan_text(prepared),
        title=prepared.stack.name,
        hourly_cost=planned.machine.hourly_price,
        cost_note=prepared.cloud.cost_note(planned.machine),  # where the figure comes from
        limit=limit,
    )


def post(review: Review, prepared: Prepared, planned: Planned) -> Posted:
    """Post the plan, editing this stack's previous plan comment in place when there is one."""
    from cmlinfra.forges import comments

    room = review.forge.comment_limit - len(comments.watermark(review.title)) - 2
    markdown = plan_markdown(prepared, planned, limit=room)
    return comments.post(review.forge, review.target, markdown, title=review.title, update=True)
