"""``cmlinfra gc`` wiring: which registry, clouds and forge to compare, and the report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.clouds.base import Inventory
from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.gc import Finding, ForgeRunners, Sweeper
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.rerun import Rerun, rerun_lost
from cmlinfra.runner.store import RunnerStore, open_store, records

log = logging.getLogger("cmlinfra.runner.gc")


@dataclass
class GcReport:
    findings: list[Finding] = field(default_factory=list)
    fixed_requested: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "fixed": sum(f.status == "fixed" for f in self.findings),
            "failed": len(self.failed),
            "reruns": sum(r["outcome"] == "rerun" for f in self.findings for r in f.reruns),
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = [f"note: {n}" for n in self.notes]
        if not self.findings:
            return "\n".join([*lines, "nothing to collect"])
        for f in self.findings:
            where = f" [{f.cloud}]" if f.cloud else ""
            outcome = {
                "found": f"would {f.action}",
                "fixed": "fixed",
                "failed": f"FAILED: {f.error}",
                "waiting": "left for a later gc",
            }
            lines.append(f"{f.kind:15} {f.name}{where}: {f.detail} — {outcome[f.status]}")
            lines += [f"{'':15} {Rerun(**r).line()}" for r in f.reruns]
        if not self.fixed_requested:
            lines.append("run again with --yes to fix these")
        return "\n".join(lines)


def _inventories(store: RunnerStore, clouds: list[str], regions: list[str]) -> list[Inventory]:
    """The inventory of each cloud asked for (``--cloud``, by name or alias) and of each cloud
    the registry's records are on; each cloud decides which of its regions to look in."""
    from cmlinfra.clouds import canonical, cloud_info, get_cloud, names_where
    from cmlinfra.clouds.base import SweepScope

    known = records(store)
    sweepable = names_where(lambda c: c.has_inventory)
    wanted = list(dict.fromkeys([*map(canonical, clouds), *(r.cloud for r in known)]))
    found: list[Inventory] = []
    for cloud in wanted:
        try:
            info = cloud_info(cloud)
        except CmlinfraError:  # a record of a cloud this installation does not have
            raise CmlinfraError(
                f"gc cannot sweep cloud {cloud!r}", f"use --cloud {' or '.join(sweepable)}"
            ) from None
        if not info.capabilities.has_inventory:
            continue  # an existing machine is the user's own: nothing to delete
        scope = SweepScope(
            regions=tuple(regions),
            record_regions=tuple(r.region for r in known if r.cloud == cloud and r.region),
        )
        inventory = get_cloud(cloud).inventory(scope)
        if inventory is not None:
            found.append(inventory)
    return found


ForgeSpec = tuple[str | None, str | None, str | None]  # --driver, --repo, --token


def _forge(spec: ForgeSpec, notes: list[str]) -> ForgeRunners | None:
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect

    driver, repo, token = spec
    try:
        return connect(detect(driver=driver, repo=repo, token=token, owner_ok=True))
    except CmlinfraError as exc:
        notes.append(f"forge runners not swept: {exc.problem}")
        return None


def _forge_of(record: RunnerRecord, forges: list[ForgeRunners]) -> ForgeRunners | None:
    """The forge that can unregister ``record``'s runner; refusing beats forgetting a runner
    that only another forge's token could remove."""
    if not forges or not record.forge:  # exec machines are registered nowhere
        return None  # --no-forge: a later gc with the forge finds the runner as an orphan
    for forge in forges:
        if forge.name == record.forge:
            return forge
    raise CmlinfraError(
        f"{record.name} is registered at {record.forge} ({record.repo})",
        "run gc with that forge's --driver/--repo/--token to unregister it",
    )


def run_gc(
    *,
    state: str | None,
    clouds: list[str],
    regions: list[str],
    prefix: str,
    lock_max_age: float,
    forge: ForgeSpec | None,
    fix: bool,
    rerun: bool = True,
) -> GcReport:
    """``rerun``: re-run, once, the jobs lost with a spot runner whose machine vanished
    (needs the forge: without ``forge`` nothing is re-run)."""
    from cmlinfra.runner.teardown import destroy_record, forge_for

    store = open_store(state)
    report = GcReport(fixed_requested=fix)
    forges = [f for f in [_forge(forge, report.notes) if forge else None] if f is not None]
    sweeper = Sweeper(
        store=store,
        inventories=_inventories(store, clouds, regions),
        forges=forges,
        teardown=lambda record: destroy_record(store, record, forge=_forge_of(record, forges)),
        rerun=(
            (lambda r: rerun_lost(store, r, lambda: forge_for(_forge_of(r, forges), r)))
            if rerun and forges
            else None
        ),
        lock_max_age=lock_max_age,
        prefix=prefix,
    )
    report.findings = sweeper.find()
    report.notes += sweeper.skipped
    if fix and report.findings:
        sweeper.fix(report.findings)
    return report
