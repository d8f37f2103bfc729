"""What a saved plan will do, read from ``terraform show -json tfplan``.

The summary is what a person approves: counts per action, whether anything is destroyed, and
the resources by action. It reads the plan JSON's ``resource_changes``, which has the same shape
in format 0.2 (terraform 1.0) and 1.x (terraform >= 1.1), so no version switch is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Action = Literal["create", "update", "delete", "replace", "read", "no-op"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete", "read", "no-op")


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    name: str
    action: Action


@dataclass(frozen=True)
class PlanSummary:
    changes: tuple[ResourceChange, ...]
    warnings: tuple[str, ...] = ()
    output_changes: tuple[str, ...] = ()  # outputs whose value changes

    def _count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def create(self) -> int:
        return self._count("create")

    @property
    def update(self) -> int:
        return self._count("update")

    @property
    def delete(self) -> int:
        return self._count("delete")

    @property
    def replace(self) -> int:
        return self._count("replace")

    @property
    def destructive(self) -> bool:
        """True when applying loses something that exists (a delete or a replace)."""
        return self.delete > 0 or self.replace > 0

    @property
    def has_changes(self) -> bool:
        """False when applying would change neither infrastructure nor outputs."""
        busy = any(change.action not in ("no-op", "read") for change in self.changes)
        return busy or bool(self.output_changes)

    def by_action(self) -> dict[str, list[ResourceChange]]:
        """Changed resources grouped by action (in a stable order), no-ops left out."""
        groups: dict[str, list[ResourceChange]] = {}
        for action in ACTIONS:
            found = [c for c in self.changes if c.action == action and action != "no-op"]
            if found:
                groups[action] = found
        return groups

    def headline(self) -> str:
        """``Plan: 1 to create, 0 to update, 1 to replace, 0 to delete.``"""
        return (
            f"Plan: {self.create} to create, {self.update} to update, "
            f"{self.replace} to replace, {self.delete} to delete."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "create": self.create,
            "update": self.update,
            "replace": self.replace,
            "delete": self.delete,
            "destructive": self.destructive,
            "has_changes": self.has_changes,
            "changes": [asdict(c) for c in self.changes if c.action != "no-op"],
            "output_changes": list(self.output_changes),
            "warnings": list(self.warnings),
        }


def _action(actions: list[str]) -> Action:
    kinds = set(actions)
    if {"create", "delete"} <= kinds:
        return "replace"  # ["delete", "create"] or create_before_destroy's ["create", "delete"]
    if len(actions) == 1 and actions[0] in ("create", "update", "delete", "read", "no-op"):
        return actions[0]  # type: ignore[return-value]
    if "forget" in kinds:
        # `removed { lifecycle { destroy = false } }` (>= 1.7): leaves the object running but
        # unmanaged. For a GPU runner that is as bad as losing it, so it counts as a delete.
        return "delete"
    raise ValueError(f"unknown plan actions {actions!r}")


def summarize_plan(plan_json: dict[str, Any], warnings: tuple[str, ...] = ()) -> PlanSummary:
    """Summarize a plan. ``warnings`` come from the plan's UI stream (the JSON plan has none);
    resources changed outside terraform (``resource_drift``) are added to them."""
    changes = tuple(
        ResourceChange(
            address=rc["address"],
            type=rc["type"],
            name=rc["name"],
            action=_action(rc["change"]["actions"]),
        )
        for rc in plan_json.get("resource_changes") or ()
        if rc.get("mode", "managed") == "managed" or rc["change"]["actions"] != ["no-op"]
    )
    drift = tuple(
        f"{rc['address']} was changed outside terraform"
        for rc in plan_json.get("resource_drift") or ()
    )
    outputs = tuple(
        sorted(
            name
            for name, change in (plan_json.get("output_changes") or {}).items()
            if change.get("actions") != ["no-op"]
        )
    )
    return PlanSummary(changes=changes, warnings=(*warnings, *drift), output_changes=outputs)


def state_resources(state_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource in ``terraform show -json`` output, child modules included (flattened)."""
    found: list[dict[str, Any]] = []
    stack = [((state_json.get("values") or {}).get("root_module") or {})]
    while stack:
        module = stack.pop()
        found.extend(module.get("resources") or ())
        stack.extend(module.get("child_modules") or ())
    return found


# The JSON UI stream's names for actions (``planned_change``), as the plan JSON spells them.
# ``move`` and ``import`` change only the state, so they count as no-ops; a ``remove``
# (``removed`` block, >= 1.7) leaves the object running unmanaged: a delete, as above.
_STREAM_ACTIONS: dict[str, Action] = {
    "noop": "no-op",
    "move": "no-op",
    "import": "no-op",
    "create": "create",
    "read": "read",
    "update": "update",
    "replace": "replace",
    "delete": "delete",
    "remove": "delete",
    "forget": "delete",
}


def summarize_stream(messages: list[dict[str, Any]], warnings: tuple[str, ...] = ()) -> PlanSummary:
    """Summarize what ``terraform apply -json`` planned, from its ``planned_change`` and
    ``resource_drift`` messages (the same on 1.0 and 1.x): for a run that plans and applies in
    one process, where no plan file exists to show. An action this module does not know counts
    as an update, so it still shows as a change."""
    changes, drift = [], []
    for message in messages:
        change = message.get("change") or {}
        resource = change.get("resource") or {}
        if message.get("type") == "planned_change":
            changes.append(
                ResourceChange(
                    address=str(resource.get("addr", "")),
                    type=str(resource.get("resource_type", "")),
                    name=str(resource.get("resource_name", "")),
                    action=_STREAM_ACTIONS.get(str(change.get("action")), "update"),
                )
            )
        elif message.get("type") == "resource_drift":
            drift.append(f"{resource.get('addr', '')} was changed outside terraform")
    return PlanSummary(changes=tuple(changes), warnings=(*warnings, *drift))


def stream_outputs(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Output values from the last ``outputs`` message of an apply's stream; None when there
    is none or an output is sensitive (terraform >= 1.1 leaves those values out of the
    stream, 1.0 does not: either way they are read with ``terraform output``, as Secrets)."""
    last = next((m for m in reversed(messages) if m.get("type") == "outputs"), None)
    if last is None:
        return None
    values: dict[str, Any] = {}
    for name, output in (last.get("outputs") or {}).items():
        if output.get("sensitive") or "value" not in output:
            return None
        values[name] = output["value"]
    return values


@dataclass(frozen=True)
class Applied:
    """What ``Workspace.apply_new`` did: the plan it applied, and the outputs when it could
    read them from its own stream (None: call ``Workspace.outputs``)."""

    summary: PlanSummary
    outputs: dict[str, Any] | None
