"""The plan review comment: what applying a Terraform plan will do, for a person to approve.

In the spirit of tfcmt: a headline with the counts, a loud warning when anything is deleted or
replaced (a replaced GPU runner loses its disk and its job), the resources grouped by action,
the estimated hourly cost, and the full plan text collapsed at the end. The caller's watermark
goes last, verbatim, so the forge driver can find this comment and update it in place on the
next push instead of adding another.

A pure function of its inputs: it reads the engine's ``PlanSummary``
(``cmlinfra.terraform.plan``) through the small protocol below, so this package does not import
the engine (``DEVELOPERS.md``: stages do not import each other).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from cmlinfra.report.limits import GITHUB_COMMENT_LIMIT, fit_to_limit
from cmlinfra.report.markdown import code_block

ACTION_TITLES = {
    "create": "Create",
    "update": "Update in place",
    "replace": "Replace (delete, then create)",
    "delete": "Delete",
    "read": "Read (data sources)",
}
FULL_PLAN_NOTE = "The full plan is in the CI job's log."
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SIGN = re.compile(r"^(\s*)(-/\+|\+/-|[-+~])(\s.*|)$")


class ChangeLike(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def action(self) -> str: ...


class PlanLike(Protocol):
    """What the comment needs from ``cmlinfra.terraform.plan.PlanSummary``."""

    @property
    def changes(self) -> Sequence[ChangeLike]: ...
    @property
    def warnings(self) -> Sequence[str]: ...
    @property
    def create(self) -> int: ...
    @property
    def update(self) -> int: ...
    @property
    def delete(self) -> int: ...
    @property
    def replace(self) -> int: ...
    @property
    def destructive(self) -> bool: ...
    def by_action(self) -> Mapping[str, Sequence[ChangeLike]]: ...


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def headline(plan: PlanLike) -> str:
    """``2 to create, 0 to update, 1 to replace, 1 to delete`` (or ``no changes``)."""
    if not any(c.action not in ("no-op", "read") for c in plan.changes):
        return "no changes"
    return (
        f"{plan.create} to create, {plan.update} to update, "
        f"{plan.replace} to replace, {plan.delete} to delete"
    )


def _destruction(plan: PlanLike) -> str:
    doomed = [c for c in plan.changes if c.action in ("delete", "replace")]
    what = " and ".join(
        p
        for p in (
            f"deletes {_plural(plan.delete, 'resource')}" if plan.delete else "",
            f"replaces {_plural(plan.replace, 'resource')}" if plan.replace else "",
        )
        if p
    )
    lines = [
        "> [!CAUTION]",
        f"> **This plan {what}.** What they hold (disks, running jobs, addresses) is lost:",
        ">",
    ]
    lines += [f"> - `{c.address}` ({c.action})" for c in doomed[:50]]
    if len(doomed) > 50:
        lines.append(f"> - … and {len(doomed) - 50} more (see below)")
    return "\n".join(lines)


def _cost(hourly: float | None, note: str) -> str:
    extra = f" ({note})" if note else ""
    if hourly is None:
        return f"**Estimated cost:** unknown{extra}."
    return f"**Estimated cost:** ${hourly:,.3f} per hour, ${hourly * 24:,.2f} per day{extra}."


def as_diff(plan_text: str) -> str:
    """Plan text for a ``diff`` code block: colour codes removed and each line's ``+``, ``-``
    or ``~`` moved to the first column, where the highlighter colours the line."""
    lines = []
    for line in _ANSI.sub("", plan_text).splitlines():
        match = _SIGN.match(line)
        if match:
            indent, sign, rest = match.groups()
            line = ("!" if sign == "~" else sign) + indent + rest
        elif line[:1] in ("+", "-", "!"):
            line = " " + line
        lines.append(line)
    return "\n".join(lines).strip("\n")


def _shell(body: str) -> str:
    return (
        "<details>\n<summary>Full plan</summary>\n\n" + code_block(body, "diff") + "\n\n</details>"
    )


def _details(plan_text: str, room: int) -> str:
    """The plan text collapsed, cut by whole lines to ``room`` characters when it is long."""
    text = as_diff(plan_text)
    if len(_shell(text)) <= room:
        return _shell(text)
    lines = text.splitlines()
    budget = room - len(_shell("")) - 200  # the fence may grow, and the "more lines" line
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > budget:
            break
        kept.append(line)
        used += len(line) + 1
    if not kept:
        return ""
    omitted = len(lines) - len(kept)
    return _shell("\n".join([*kept, f"  … {omitted} more lines. {FULL_PLAN_NOTE}"]))


def plan_comment(
    plan: PlanLike,
    plan_text: str = "",
    *,
    title: str = "",
    hourly_cost: float | None = None,
    cost_note: str = "",
    watermark: str = "",
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """The comment's markdown, never longer than ``limit`` characters (watermark included).

    ``title`` names what is planned (a stack, a runner); ``hourly_cost`` is the caller's
    estimate in USD (None with a ``cost_note``: said to be unknown, and why); ``watermark``
    is appended verbatim as the last line (for example an HTML
    comment) so the driver can find this comment again.
    """
    name = f" for `{title}`" if title else ""
    parts = [f"## Terraform plan{name}: {headline(plan)}"]
    if plan.destructive:
        parts.append(_destruction(plan))
    if hourly_cost is not None or cost_note:
        parts.append(_cost(hourly_cost, cost_note))
    for action, changes in plan.by_action().items():
        parts.append(f"### {ACTION_TITLES.get(action, action.capitalize())} ({len(changes)})")
        parts.append("\n".join(f"- `{c.address}`" for c in changes))
    outputs = list(getattr(plan, "output_changes", ()) or ())
    if outputs:
        parts += [f"### Outputs that change ({len(outputs)})", ", ".join(f"`{o}`" for o in outputs)]
    if plan.warnings:
        parts.append("### Warnings")
        parts.append("\n".join(["> [!WARNING]", *(f"> - {w}" for w in plan.warnings)]))
    reserve = len(watermark) + 2 if watermark else 0
    body = "\n\n".join(parts)
    if plan_text.strip():
        room = limit - reserve - len(body) - 3  # two newlines before, one after
        details = _details(plan_text, room) if room > 0 else ""
        if details:
            body += "\n\n" + details
    body = fit_to_limit(body + "\n", limit, FULL_PLAN_NOTE, reserve=reserve).rstrip("\n")
    return body + ("\n\n" + watermark if watermark else "") + "\n"
