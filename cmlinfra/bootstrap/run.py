"""Running steps on hosts: one host over a :class:`Transport`, or many in parallel threads, with
a result per step (done / skipped / failed, seconds) for the summary.

A script that prints ``reboot: <why>`` last and exits with
:data:`~cmlinfra.bootstrap.steps.REBOOT_EXIT_CODE` (the NVIDIA module cannot load until the
machine restarts) gets a reboot, and the same script runs again.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cmlinfra.bootstrap.gpu import Gpu, find_query_csv, parse_query_csv
from cmlinfra.bootstrap.ssh import SshTarget, connect
from cmlinfra.bootstrap.steps import REBOOT_EXIT_CODE, Step
from cmlinfra.bootstrap.transport import CommandResult, Transport
from cmlinfra.errors import CmlinfraError
from cmlinfra.trace import span
from cmlinfra.ui import progress

DEFAULT_STEP_TIMEOUT = 1800.0


class StepFailed(CmlinfraError):
    """A step exited non-zero: names the step, the exit code, and keeps the last lines."""

    def __init__(self, host: str, step: str, exit_code: int, tail: Sequence[str]) -> None:
        last = next((line for line in reversed(tail) if line.strip()), "no output")
        # a step's own diagnosis ("error: Docker is not installed; the docker step installs it")
        # is the line to report, without its prefix
        last = last.removeprefix("error: ")
        super().__init__(
            f"{host}: step {step} failed with exit code {exit_code}: {last}",
            "see its last output lines above; fix the cause and re-run "
            "(finished steps are skipped)",
        )
        self.host, self.step, self.exit_code, self.tail = host, step, exit_code, tuple(tail)


@dataclass
class StepResult:
    name: str
    status: str  # done | skipped | failed | not run
    seconds: float = 0.0
    exit_code: int | None = None
    note: str = ""  # the skip reason, or the error line


@dataclass
class HostResult:
    name: str
    host: str
    ok: bool = False
    seconds: float = 0.0
    steps: list[StepResult] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    gpus: list[Gpu] = field(default_factory=list)  # from nvidia-smi, when a step printed it
    error: str | None = None
    tail: list[str] = field(default_factory=list)  # last lines of the failed step


def _printer(label: str) -> Callable[[str], None]:
    return lambda line: progress(f"[{label}] {line}")


def run_step(
    ssh: Transport,
    step: Step,
    *,
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    reboot_wait: float = 900.0,
) -> tuple[CommandResult, bool]:
    """Upload the step's secrets and script, run it as root, reboot and run again when it asks.
    Returns the (last) result and whether the host was rebooted; raises :class:`StepFailed` on
    a non-zero exit."""
    out = on_line or _printer(ssh.name)
    for path, secret in step.secrets.items():
        ssh.put_secret(secret, path)
    remote = ssh.put_file(step.script.encode(), f"{step.name}.sh", 0o700)
    command = f"bash {shlex.quote(remote)}"
    result = ssh.run(command, timeout=step.timeout or timeout, on_line=out)
    rebooted = (
        result.exit_code == REBOOT_EXIT_CODE
        and bool(result.tail)
        and result.tail[-1].startswith("reboot: ")
    )
    if rebooted:
        ssh.reboot(time.monotonic() + reboot_wait)
        result = ssh.run(command, timeout=step.timeout or timeout, on_line=out)
    if result.exit_code != 0:
        raise StepFailed(ssh.name, step.name, result.exit_code, result.tail)
    return result, rebooted


def run_steps(
    ssh: Transport, steps: Sequence[Step], result: HostResult, *, timeout: float
) -> HostResult:
    """Run ``steps`` in order on a connected host, recording each in ``result``; stops at the
    first failure (later steps are "not run") and records the error instead of raising."""
    start = time.monotonic()
    pending = [StepResult(s.name, "not run") for s in steps]
    result.steps = pending
    printer = _printer(ssh.name)
    output: list[str] = []

    def on_line(line: str) -> None:
        printer(line)
        output.append(line)
        key, sep, value = line.removeprefix("fact: ").partition("=")
        if line.startswith("fact: ") and sep:
            result.facts[key] = value

    try:
        for step, record in zip(steps, pending, strict=True):
            t0 = time.monotonic()
            output.clear()
            try:
                with span(f"step {step.name}"):
                    done, rebooted = run_step(ssh, step, timeout=timeout, on_line=on_line)
            except CmlinfraError as exc:
                record.status, record.seconds = "failed", time.monotonic() - t0
                record.note = exc.problem
                if isinstance(exc, StepFailed):
                    record.exit_code, result.tail = exc.exit_code, list(exc.tail)
                raise
            record.seconds, record.exit_code = time.monotonic() - t0, done.exit_code
            skip = next((line for line in done.tail if line.startswith("skip: ")), "")
            record.status = "skipped" if done.skipped and not rebooted else "done"
            record.note = ("rebooted; " if rebooted else "") + skip[len("skip: ") :]
            block = find_query_csv(output)
            if block:
                result.gpus = parse_query_csv("\n".join(block))
        result.ok = True
    except CmlinfraError as exc:
        result.error = exc.line()
    finally:
        result.seconds += time.monotonic() - start
    return result


def bootstrap_host(
    target: SshTarget,
    steps: Sequence[Step],
    *,
    wait: float = 300.0,
    timeout: float = DEFAULT_STEP_TIMEOUT,
) -> HostResult:
    """Connect (waiting for SSH), run ``steps``, disconnect. Never raises a user-fixable error:
    it is in the result, so one bad host does not hide the others' results."""
    result = HostResult(target.label, target.host)
    start = time.monotonic()
    try:
        ssh = connect(target, wait=wait, say=_printer(target.label))
    except CmlinfraError as exc:
        result.error = exc.line()
        result.steps = [StepResult(s.name, "not run") for s in steps]
        result.seconds = time.monotonic() - start
        return result
    try:
        result.seconds = time.monotonic() - start  # time to SSH counts too
        return run_steps(ssh, steps, result, timeout=timeout)
    finally:
        ssh.close()


def bootstrap_hosts(
    targets: Sequence[SshTarget],
    steps: Sequence[Step],
    *,
    wait: float = 300.0,
    timeout: float = DEFAULT_STEP_TIMEOUT,
    parallel: int = 8,
) -> list[HostResult]:
    """Bootstrap every target at once (one thread each, at most ``parallel``); results in the
    order of ``targets``."""
    if len(targets) == 1:
        return [bootstrap_host(targets[0], steps, wait=wait, timeout=timeout)]
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets)))) as pool:
        futures = [
            pool.submit(bootstrap_host, t, steps, wait=wait, timeout=timeout) for t in targets
        ]
        return [f.result() for f in futures]
