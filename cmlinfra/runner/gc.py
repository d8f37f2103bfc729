"""The sweeper (``cmlinfra gc``): the third teardown layer, for what the other two missed.

It compares three views that should agree — the registry (records and locks), the clouds
(machines tagged by cmlinfra) and the forges (registered runners) — and reports every
disagreement as a :class:`Finding`. With ``--yes`` it fixes them, in an order that lets each fix
rely on the previous one: stale locks first (so a record can be locked for teardown), then
records, then machines no record claims, then runners no machine serves. Running it twice in a
row finds nothing the second time, so it is safe as a scheduled CI job.

Invariant it relies on: a launcher writes the record (and holds the lock) *before* it creates
anything, and deletes the record only after everything is gone. So a runner's machine without a
record, or a record whose lock holder is dead, is always garbage. Machines that no registry
records by design (``stack apply``'s, a bake's builder, anything without the runner role tag)
are deleted only once their expiry tag has passed; until then gc says it left them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cmlinfra.clouds.base import Inventory, Machine
from cmlinfra.clouds.tags import RUNNER_ROLE
from cmlinfra.runner import checkpoints
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.rerun import Outcome, why_not_rerun
from cmlinfra.runner.store import RunnerStore, locks, records

log = logging.getLogger("cmlinfra.runner.gc")

KINDS = {
    "stale-lock": "remove the lock",
    "expired": "destroy the runner's stack and unregister it",
    "abandoned": "destroy the runner's stack and unregister it",
    "machine-gone": "destroy what is left of the stack, unregister, forget the record",
    "orphan-machine": "delete the machine through the cloud API",
    "expired-machine": "delete the expired machine through the cloud API",
    "orphan-runner": "unregister the runner at the forge",
    "expired-checkpoint": "delete the kept checkpoint archive (its job's re-run is long past)",
}


@dataclass
class Finding:
    kind: str
    name: str  # runner / stack name
    cloud: str
    detail: str
    action: str = ""
    status: str = "found"  # found | fixed | failed | waiting (a lost job has not ended yet)
    error: str = ""
    machine: Machine | None = field(default=None, repr=False)
    runner_id: str = ""
    reruns: list[dict[str, str]] = field(default_factory=list)  # cmlinfra.runner.rerun.Rerun
    gone: bool = field(default=False, repr=False)  # a record's machine is not in its cloud

    def __post_init__(self) -> None:
        self.action = self.action or KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        keys = ("kind", "name", "cloud", "detail", "action", "status", "error")
        return {**{key: str(getattr(self, key)) for key in keys}, "reruns": self.reruns}


class ForgeRunners(Protocol):
    """The part of a forge driver gc needs (``cmlinfra.forges.base.Forge`` satisfies it)."""

    name: str

    def list_runners(self) -> Sequence[Any]: ...

    def remove_runner(self, runner_id: str) -> None: ...


@dataclass
class Sweeper:
    store: RunnerStore
    inventories: Sequence[Inventory] = ()
    forges: Sequence[ForgeRunners] = ()
    teardown: Callable[[RunnerRecord], None] | None = None  # full destroy of one record
    # re-runs the jobs a vanished spot machine's runner lost, before its teardown (rerun.py)
    rerun: Callable[[RunnerRecord], Outcome] | None = None
    lock_max_age: float = 3600.0
    prefix: str = ""  # only names starting with this (several registries in one account)
    runner_prefix: str = ""  # forge runners ours without a record; default: prefix or "cml-"
    now: float = field(default_factory=time.time)
    # record-less machines not a runner's and not expired, and record-less runners online or
    # busy: left alone, one line each
    skipped: list[str] = field(default_factory=list)

    def _ours(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def find(self) -> list[Finding]:
        findings: list[Finding] = []
        self.skipped.clear()
        live_locks = set()
        for lock in locks(self.store):
            if not self._ours(lock.name):
                continue
            why = lock.stale(self.lock_max_age, self.now)
            if why:
                findings.append(Finding("stale-lock", lock.name, "", why))
            else:
                live_locks.add(lock.name)
        machines = [m for inv in self.inventories for m in inv.machines() if self._ours(m.stack)]
        by_stack: dict[str, list[Machine]] = {}
        for machine in machines:
            by_stack.setdefault(machine.stack, []).append(machine)
        swept_clouds = {inv.cloud for inv in self.inventories}
        known = {}
        for record in records(self.store):
            if not self._ours(record.name):
                continue
            known[record.name] = record
            if record.name in live_locks:
                continue  # a live launcher is working on it
            finding = self._judge(record, by_stack.get(record.name, []), swept_clouds)
            if finding:
                findings.append(finding)
        for machine in machines:
            if machine.stack not in known:
                finding = self._recordless(machine)
                if finding:
                    findings.append(finding)
        findings += self._orphan_runners(set(known) | live_locks, by_stack)
        if not self.prefix:  # kept per registry, not per runner: a --prefix sweep leaves them
            for key, days in checkpoints.expired(self.store, self.now):
                detail = f"kept {days:.0f} days ago for a re-run (--checkpoint-dir)"
                findings.append(Finding("expired-checkpoint", key, "", detail))
        return findings

    def _recordless(self, machine: Machine) -> Finding | None:
        """A runner's machine without a record is an orphan; any other (``stack apply``, a
        bake's builder, untagged) was never meant to have one: it goes only once expired."""
        where = f"{machine.id} ({machine.state or 'unknown state'})"
        if machine.role == RUNNER_ROLE:
            detail = f"{where} has no record"
            return Finding("orphan-machine", machine.stack, machine.cloud, detail, machine=machine)
        role = f"role {machine.role}" if machine.role else "no cmlinfra-role tag"
        if machine.expired(self.now):
            late = (self.now - (machine.expires or self.now)) / 60
            detail = f"{where}, {role}, expired {late:.0f} min ago"
            return Finding("expired-machine", machine.stack, machine.cloud, detail, machine=machine)
        until = "no expiry" if machine.expires is None else "not expired yet"
        self.skipped.append(
            f"left {machine.stack} ({machine.cloud} {where}, {role}, {until}): not a runner's "
            "machine, so no record is expected; gc deletes it only once it has expired"
        )
        return None

    def _judge(
        self, record: RunnerRecord, machines: list[Machine], swept: set[str]
    ) -> Finding | None:
        if record.expired(self.now):
            late = (self.now - (record.expires or self.now)) / 60
            return Finding("expired", record.name, record.cloud, f"expired {late:.0f} min ago")
        gone = record.cloud in swept and not machines
        if record.phase in ("launching", "destroying", "failed"):
            detail = f"left in phase {record.phase!r} by {record.launcher or 'a launcher'}"
            finding = Finding("abandoned", record.name, record.cloud, detail, gone=gone)
        elif gone:
            detail = "its machine no longer exists"
            finding = Finding("machine-gone", record.name, record.cloud, detail, gone=True)
        else:
            return None
        if gone and self.rerun is not None and not why_not_rerun(record):
            finding.action = f"re-run the jobs it lost (spot), {finding.action}"
        return finding

    def _orphan_runners(self, skip: set[str], by_stack: dict[str, list[Machine]]) -> list[Finding]:
        """A runner named like ours with no record and no machine serves nothing — unless it
        is online or busy: an organization / group / workspace pool is shared, and another
        team's registry (or a CI job's empty one) has no record of runners that are working
        right now. Those are skipped and said so; only offline, idle ones are orphans.
        Runners of known records are left to that record's teardown."""
        findings = []
        for forge in self.forges:
            for runner in forge.list_runners():
                name = str(runner.name)
                if name in skip or by_stack.get(name) or not self._ours(name):
                    continue
                if not name.startswith(self.runner_prefix or self.prefix or "cml-"):
                    continue  # not named by cmlinfra: somebody else's runner
                state = str(runner.status or "").lower()
                where = f"{forge.name} runner {runner.id}"
                if runner.busy or state in ("online", ""):
                    why = "busy" if runner.busy else state or "state unknown"
                    self.skipped.append(
                        f"left {name} ({where}, {why}): no record here, but it may be "
                        "another registry's working runner; gc removes only offline, idle ones"
                    )
                    continue
                detail = f"{where} ({state}) has no record and no machine"
                findings.append(
                    Finding("orphan-runner", name, forge.name, detail, runner_id=str(runner.id))
                )
        return findings

    def fix(self, findings: list[Finding]) -> list[Finding]:
        """Apply every finding's action, in dependency order; failures are recorded, not raised,
        so one broken stack cannot stop the sweep of the others."""
        order = list(KINDS)
        forges = {forge.name: forge for forge in self.forges}
        inventories = {inv.cloud: inv for inv in self.inventories}
        for finding in sorted(findings, key=lambda f: order.index(f.kind)):
            try:
                done = True
                if finding.kind == "stale-lock":
                    self.store.unlock(finding.name)
                elif finding.machine is not None:  # orphan-machine, expired-machine
                    inventories[finding.machine.cloud].delete(finding.machine)
                elif finding.kind == "orphan-runner":
                    forges[finding.cloud].remove_runner(finding.runner_id)
                elif finding.kind == "expired-checkpoint":
                    checkpoints.forget(self.store, finding.name)
                else:
                    done = self._teardown(finding)
                finding.status = "fixed" if done else "waiting"
            except Exception as exc:  # reported per finding; the sweep goes on
                finding.status, finding.error = "failed", " ".join(str(exc).split())[:300]
                log.warning("gc: %s %s: %s", finding.kind, finding.name, finding.error)
        return findings

    def _teardown(self, finding: Finding) -> bool:
        """Destroy a record's runner; False when it waits for a lost job to end (rerun.py)."""
        record = self.store.get(finding.name)
        if record is None:
            return True  # someone else finished it meanwhile
        if self.teardown is None:
            raise RuntimeError("no teardown available for records")
        outcome = None
        if finding.gone and self.rerun is not None:
            outcome = self.rerun(record)  # first: the teardown forgets the runner's name
            finding.reruns = outcome.to_dicts()
            finding.detail += f"; {outcome.note}" if outcome.note else ""
            if outcome.defer:
                return False
        try:
            self.teardown(record)
        except Exception:
            # The stack could not be destroyed: at least stop paying for the machine.
            inventory = next((i for i in self.inventories if i.cloud == record.cloud), None)
            for machine in inventory.machines() if inventory else []:
                if machine.stack == record.name:
                    inventory.delete(machine)  # type: ignore[union-attr]
            raise
        if outcome is not None and outcome.error:
            raise RuntimeError(f"torn down, but {outcome.error}")
        return True
