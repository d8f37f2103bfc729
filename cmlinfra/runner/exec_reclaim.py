"""``exec`` across spot reclaims: watch, bring the checkpoint back, run again elsewhere.

One :class:`Relaunch` per ``exec``. Before the command runs it starts the machine's reclaim
watcher (when the cloud announces reclaims and the machine is spot, or ``CMLINFRA_INTERRUPTION``
asks for it) and restores the last checkpoint into ``--checkpoint-dir``. When the command ended
because the watcher heard the notice, it pulls the packed checkpoint, and the next round runs on
the next candidate (the failover's list, the reclaimed one last) — up to ``--max-restarts``.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.runner import reclaim
from cmlinfra.ui import progress

LIB = "/usr/local/lib/cmlinfra"


@dataclass
class Relaunch:
    opts: Any  # runner.execute.ExecOptions
    machines: Any  # stack.failover.Failover, looked up
    options: Any = None  # the failover's options for the next round; None: all
    checkpoint: bytes | None = None  # the last checkpoint (a .tgz of the folder)
    reclaims: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total: dict[str, float] = field(default_factory=dict)
    watching: bool = False

    def first(self) -> Any:
        return (self.options or self.machines.options)[0].prepared

    def arm(self, session: Any, workdir: str) -> None:
        """Restore the checkpoint, then start the watcher (where someone announces reclaims)."""
        ckpt = self.opts.checkpoint_dir
        if self.checkpoint is not None and ckpt:
            with session.step("restore"):
                remote = session.ssh.put_file(self.checkpoint, "checkpoint.tgz", 0o600)
                folder = f"{workdir}/{ckpt}"
                session.root(f"mkdir -p {folder} && tar -xzf {remote} -C {folder}", "restore")
        capabilities = session.prepared.cloud.info.capabilities
        found = reclaim.interruption(capabilities)
        forced = bool(os.environ.get("CMLINFRA_INTERRUPTION", "").strip())
        self.watching = found is not None and (session.prepared.machine.request.spot or forced)
        if not self.watching:
            return
        interruption, url = found  # type: ignore[misc]
        watch = reclaim.Watch(interruption, url, workdir=workdir, checkpoint_dir=ckpt)
        user = session.ssh.run("id -un", timeout=30).tail[-1].strip() or "root"
        with session.step("reclaim watch"):
            session.root(reclaim.install_script(watch, user, LIB), "reclaim-watch")

    def wrap(self, command: str) -> str:
        return reclaim.wrap(command) if self.watching else command

    def heard(self, session: Any) -> bool:
        """Whether the watcher stopped the command; its checkpoint comes back if so."""
        if not self.watching:
            return False
        from cmlinfra.runner.watchdog import parse_status

        def mark() -> dict[str, str]:
            result = session.ssh.run(f"cat {reclaim.MARK} 2>/dev/null || true", timeout=30)
            return parse_status("\n".join(result.tail))

        found = mark()
        if not found.get("job_stopped"):
            return False
        deadline = time.monotonic() + 120
        while not found.get("done") and time.monotonic() < deadline:
            time.sleep(0.5)  # the watcher is packing the checkpoint: wait on its done= line
            found = mark()
        machine = session.prepared.machine
        event = {
            "cloud": machine.cloud,
            "region": machine.region,
            "type": machine.instance_type,
            "notice": found.get("notice", ""),
            "checkpoint": found.get("checkpoint", "none"),
        }
        if found.get("checkpoint") == "saved":
            self.checkpoint = session.ssh.get_file(reclaim.CHECKPOINT)
            event["checkpoint_bytes"] = len(self.checkpoint)
        self.reclaims.append(event)
        session.record.error = f"reclaimed: {event['notice']}"
        session.save()
        return True

    def again(self, session: Any, code: int) -> bool:
        """After a reclaim: another round (on the next candidate), or the end (checkpoint
        left in the local tree, a note saying so)."""
        event = self.reclaims[-1]
        name = session.record.name
        where = f"{event['region']} {event['type']}"
        if len(self.reclaims) > self.opts.max_restarts:
            self.notes.append(
                f"exec {name}: the cloud took the machine back ({where}: {event['notice']}) and "
                f"--max-restarts {self.opts.max_restarts} is reached; " + self._keep_locally()
            )
            return False
        chosen = self.machines.chosen
        options = list(self.machines.options)
        if chosen in options:
            at = options.index(chosen)
            options = options[at + 1 :] + options[: at + 1]  # the reclaimed one last
        self.options = options
        nxt = options[0].prepared.machine
        resumed = "from its checkpoint" if self.checkpoint else "from the start (no checkpoint)"
        progress(
            f"exec {name}: reclaimed on {where} ({event['notice']}) → running again on "
            f"{nxt.region} {nxt.instance_type} {resumed} "
            f"(restart {len(self.reclaims)}/{self.opts.max_restarts})"
        )
        self.notes.append(
            f"exec {name}: reclaimed on {where}, ran again on {nxt.region} {nxt.instance_type} "
            + resumed
        )
        return True

    def _keep_locally(self) -> str:
        if self.checkpoint is None or not self.opts.checkpoint_dir:
            return "no checkpoint was saved"
        target = self.opts.workdir / self.opts.checkpoint_dir
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(self.checkpoint)) as tar:
            tar.extractall(target, filter="data")
        return f"its last checkpoint is in {target}"

    def add_timings(self, timings: dict[str, float]) -> None:
        for key, value in timings.items():
            self.total[key] = self.total.get(key, 0.0) + value

    def timings(self, last: dict[str, float]) -> dict[str, float]:
        """Every round's stages added up (one round: its own)."""
        if not self.reclaims:
            return last
        return {**self.total, "total": last.get("total", 0.0)}  # total: since the start
