"""The stages every launch and exec share: record → apply → SSH → bootstrap, with one teardown.

:class:`Session` owns a runner NAME from the moment its record is written until the machine is
gone or handed over to the node watchdog. Every stage is timed (``timings``) and named
(``stage``), so a failure says which step failed and the teardown says what it removed.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.records import RunnerRecord, registered_at, this_holder
from cmlinfra.runner.signals import Cancelled, exit_code, shielded
from cmlinfra.runner.store import RunnerStore, holding
from cmlinfra.trace import span
from cmlinfra.ui import progress, timed

log = logging.getLogger("cmlinfra.runner")


class Stopped(CmlinfraError):
    """Another runner of the same ``--count`` launch failed: this one stops at its next stage
    (and is torn down with the others)."""


@dataclass
class Session:
    store: RunnerStore
    prepared: Any  # cmlinfra.stack.service.Prepared
    record: RunnerRecord
    forge: Any = None  # a Forge, when a runner is registered
    timings: dict[str, float] = field(default_factory=dict)
    stage: str = "checks"
    ssh: Any = None  # cmlinfra.bootstrap.ssh.SshTransport
    stop: threading.Event | None = None  # set: stop at the next stage (runner/fleet.py)
    torn_down: bool = False  # fail() destroyed everything
    failover: Any = None  # cmlinfra.stack.failover.Failover: the candidates apply() tries
    options: Any = None  # the failover's options to try, in order; None: all of them
    on_created: Any = None  # called when terraform has created the machine (a launch registers)
    _stack: ExitStack = field(default_factory=ExitStack)

    @classmethod
    def begin(
        cls,
        store: RunnerStore,
        prepared: Any,
        *,
        mode: str,
        labels: list[str],
        single: bool,
        idle_timeout: int,
        forge: Any = None,
    ) -> Session:
        """Lock the name and write the record *before* anything exists (gc relies on it).

        A stack directory of that name (a ``stack apply`` machine, or a runner of another
        registry) is refused before anything is touched: taking it over would re-apply it with
        another backend and, on the failure that follows, destroy a machine that is not ours."""
        machine = prepared.machine
        name = machine.request.name
        if prepared.stack.root.exists() and store.get(name) is None:
            raise CmlinfraError(
                f"a stack named {name!r} already exists ({prepared.stack.root})",
                f"pick another --name, or remove it with 'cmlinfra stack destroy --name {name}'",
            )
        from cmlinfra.runner.rerun import launcher_job

        ttl = machine.request.max_ttl_seconds
        now = time.time()
        record = RunnerRecord(
            name=machine.request.name,
            cloud=machine.cloud,
            instance_type=machine.instance_type,
            region=machine.region,
            labels=labels,
            mode=mode,
            created=now,
            expires=now + ttl if ttl else None,
            idle_timeout=idle_timeout,
            single=single,
            hourly_price=machine.hourly_price,
            spot=machine.request.spot,
            forge=getattr(forge, "name", "") if forge is not None else "",
            **registered_at(getattr(forge, "ctx", None)),
            launcher=this_holder(),
            launched_by=launcher_job(getattr(forge, "name", "")) if forge is not None else {},
        )
        session = cls(store, prepared, record, forge)
        session._stack.enter_context(holding(store, record.name, mode))
        if store.get(record.name) is not None or prepared.stack.root.exists():
            session._stack.close()
            raise CmlinfraError(
                f"a runner named {record.name!r} already exists in {store.url}",
                "pick another --name, or remove it with 'cmlinfra runner destroy'",
            )
        store.put(record)
        return session

    def save(self) -> None:
        self.store.put(self.record)

    def step(self, name: str) -> Any:
        if self.stop is not None and self.stop.is_set():
            raise Stopped(f"stopped before {name}: another runner of the same launch failed")
        self.stage = name
        return timed(name, self.timings)

    def apply(self) -> Any:
        """The machine, on the first of the launch's candidates that can be had
        (``failover``; docs/failover.md): one record and one stack name throughout, each
        refused attempt's stack destroyed before the next, the attempts kept in the record."""
        if self.failover is None:
            return self._apply()
        try:
            return self.failover.run(
                lambda prepared: self._apply(), switch=self.use, options=self.options
            )
        finally:
            self.record.attempts = [a.to_dict() for a in self.failover.attempts]
            self.save()

    def use(self, prepared: Any) -> None:
        """Make ``prepared`` (another candidate) this session's machine, in the record too."""
        self.prepared = prepared
        machine = prepared.machine
        record = self.record
        record.cloud, record.instance_type, record.region = (
            machine.cloud,
            machine.instance_type,
            machine.region,
        )
        record.hourly_price, record.spot = machine.hourly_price, machine.request.spot
        self.save()

    def _apply(self) -> Any:
        from cmlinfra.runner import stacks
        from cmlinfra.stack import service

        with self.step("apply"):
            service.render(self.prepared)  # begin() took the name: locked
            stacks.save(self.store, self.record.name)  # before anything exists: gc can destroy
            address = service.apply(
                self.prepared, locked=True, rendered_here=True, on_created=self.on_created
            )
        self.record.host, self.record.instance_id = address.host, address.instance_id
        self.save()
        return address

    def connect(self, address: Any, wait: float = 300.0) -> Any:
        """The machine as a Transport: SSH with the stack's key and the trusted host keys, or
        the cloud's own channel where it has one (``connect()``: a pod through the API's
        exec) — the steps after this never know which."""
        from cmlinfra.bootstrap.ssh import SshTarget, connect
        from cmlinfra.stack.store import stack_dir

        own = getattr(self.prepared.cloud, "connect", None)
        if own is not None:
            with self.step("connect"):
                self.ssh = own(address, wait=wait, say=progress)
            self._stack.callback(self.ssh.close)
            return self.ssh
        target = SshTarget(
            host=address.host,
            user=address.user,
            key=stack_dir(self.record.name).key_path,
            port=address.port,
            host_keys=address.host_keys,
            name=self.record.name,
        )
        with self.step("ssh wait"):
            self.ssh = connect(target, wait=wait, say=progress)
        self._stack.callback(self.ssh.close)
        return self.ssh

    def bootstrap(self, steps: list[Any]) -> Any:
        from cmlinfra.bootstrap.run import HostResult, run_steps

        with self.step("bootstrap"):
            result = run_steps(
                self.ssh, steps, HostResult(self.record.name, self.record.host), timeout=1800
            )
        if not result.ok:
            raise CmlinfraError(result.error or "bootstrap failed")
        return result

    def root(self, script: str, name: str, timeout: float = 300) -> None:
        """Run a root script on the machine from a file (never through argv)."""
        with span(f"script {name}"):
            remote = self.ssh.put_file(script.encode(), f"{name}.sh", 0o700)
            result = self.ssh.run(f"bash {remote}", timeout=timeout, on_line=log.debug)
        if result.exit_code != 0:
            last = next((line for line in reversed(result.tail) if line.strip()), "no output")
            raise CmlinfraError(
                f"{name} failed on {self.record.name} (exit {result.exit_code}): {last}"
            )

    def handed_over(self) -> None:
        """The machine now belongs to its watchdog: mark ready and let go of the name."""
        self.record.phase, self.record.last_activity = "ready", time.time()
        self.save()
        self._stack.close()

    def fail(self, exc: BaseException, *, shield: bool = True) -> CmlinfraError:
        """Tear everything down (signals ignored meanwhile) and return the error to raise.
        ``shield=False`` from a worker thread, while the main thread holds ``shielded()``
        (only the main thread may change signal handlers)."""
        from cmlinfra.runner.teardown import destroy_record

        stage, self.stop = self.stage, None  # the teardown's own steps are never stopped
        problem = (
            "cancelled"
            if isinstance(exc, Cancelled | KeyboardInterrupt)
            else (exc.problem if isinstance(exc, CmlinfraError) else f"{type(exc).__name__}: {exc}")
        )
        progress(
            f"{self.record.mode} {self.record.name} failed at {stage}: {problem}; tearing down"
        )
        with shielded() if shield else nullcontext():
            self.record.error = f"{stage}: {problem}"
            try:
                self.close_ssh()
                with self.step("destroy"):
                    destroy_record(self.store, self.record, forge=self.forge, locked=True)
                outcome, self.torn_down = "everything it created was destroyed", True
            except Exception as cleanup:  # the record stays for gc
                outcome = f"the teardown failed too ({cleanup}); 'cmlinfra gc --yes' retries it"
            finally:
                self._stack.close()
        error = CmlinfraError(
            f"{self.record.mode} {self.record.name} failed at step {stage}: {problem}; {outcome}",
            exc.fix if isinstance(exc, CmlinfraError) else "",
        )
        own = vars(exc).get("exit_code")  # set on the error itself: a remote tool's (dvc pull)
        error.exit_code = exit_code(exc) or own or error.exit_code
        return error

    def close_ssh(self) -> None:
        if self.ssh is not None:
            self.ssh.close()
            self.ssh = None

    def release(self) -> None:
        self._stack.close()
