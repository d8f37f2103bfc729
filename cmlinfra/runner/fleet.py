"""``cmlinfra runner launch --count N``: N identical runners from one launcher process.

Each runner is still a machine, stack, record and watchdog of its own (``runner destroy``, the
watchdog and ``gc`` see N ordinary runners named ``NAME-1`` … ``NAME-N``). What one process
shares is what N separate launches would each pay for: the interpreter and its imports, the
forge connection and its access check, the cloud look-ups, and the synthesizer's node process.
The N bring-ups (terraform, SSH, bootstrap, registration) then run side by side in threads.

All or nothing: every name is checked and locked before anything is created, and if one
runner fails (or the launch is cancelled), every runner of the launch is torn down and the
command fails, so a CI step never exits non-zero with machines still billing.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.launch import LaunchOptions, LaunchResult, begin, bring_up, check, prepare

MAX_COUNT = 64


def names(base: str, count: int) -> list[str]:
    """``base-1`` … ``base-N`` (validated as hostnames with the rest of the request)."""
    return [f"{base}-{index}" for index in range(1, count + 1)]


def launch_many(opts: LaunchOptions, count: int) -> list[LaunchResult]:
    """Launch ``count`` runners (all or none); the results in name order."""
    from cmlinfra.runner.signals import cancellable, shielded
    from cmlinfra.stack import service

    if not 1 < count <= MAX_COUNT:
        raise UsageError(f"--count {count} is out of range", f"give 1 to {MAX_COUNT}")
    if opts.reuse or opts.reuse_idle:
        raise UsageError(
            "--reuse and --reuse-idle pick one existing runner; --count launches new ones",
            "drop --count, or drop --reuse/--reuse-idle",
        )
    checked = check(opts)
    first = replace(opts, request=replace(opts.request, name=names(opts.request.name, count)[0]))
    template = prepare(first, checked)
    prepared = [template] + [
        service.renamed(template, name) for name in names(opts.request.name, count)[1:]
    ]
    sessions: list[Any] = []
    try:
        for one in prepared:
            sessions.append(begin(opts, checked, one))
    except BaseException:
        for session in sessions:
            session.release()  # records of runners that never existed: nothing to tear down
            checked.store.delete(session.record.name)
        raise
    with cancellable():
        failures = _bring_up_all(sessions, opts)
    if not failures:
        for session in sessions:
            session.handed_over()
        return [LaunchResult(s.record, s.timings) for s in sessions]
    with shielded(), ThreadPoolExecutor(max_workers=count) as pool:  # tear down side by side
        errors = list(pool.map(lambda s: s.fail(_why(s, failures), shield=False), sessions))
    raise _summary(errors)


def _bring_up_all(sessions: list[Any], opts: LaunchOptions) -> dict[str, BaseException]:
    """Every bring-up in its own thread; the first failure stops the others at their next
    stage. Returns the failures by runner name (a cancellation counts for every runner; a
    runner stopped by another's failure is left to :func:`_why`)."""
    stop = threading.Event()
    failures: dict[str, BaseException] = {}

    def one(session: Any) -> None:
        session.stop = stop
        bring_up(session, opts)

    pool = ThreadPoolExecutor(max_workers=len(sessions), thread_name_prefix="runner")
    futures: dict[Future[None], Any] = {pool.submit(one, s): s for s in sessions}
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() for f in done):
            stop.set()
        wait(futures)
    except BaseException as exc:  # Cancelled / KeyboardInterrupt in this (the main) thread
        stop.set()
        wait(futures)  # a terraform run in progress ends first; then everything is torn down
        for session in sessions:
            failures[session.record.name] = exc
    finally:
        pool.shutdown(wait=True)
    for future, session in futures.items():
        error = future.exception()
        if error is not None and session.record.name not in failures and not stopped(error):
            failures[session.record.name] = error
    return failures


def stopped(error: BaseException) -> bool:
    from cmlinfra.runner.machine import Stopped

    return isinstance(error, Stopped)


def _why(session: Any, failures: dict[str, BaseException]) -> BaseException:
    """The runner's own failure, else why it is torn down although it came up."""
    from cmlinfra.runner.machine import Stopped

    own = failures.get(session.record.name)
    if own is not None:
        return own
    return Stopped(f"torn down because runner {next(iter(failures))} of the same launch failed")


def _summary(errors: list[CmlinfraError]) -> CmlinfraError:
    """One line: the first real failure, and that every runner of the launch was torn down."""
    real = [e for e in errors if "of the same launch failed" not in e.problem]
    first = (real or errors)[0]
    error = CmlinfraError(
        f"{first.problem} (every runner of this --count launch was torn down with it)",
        first.fix,
    )
    error.exit_code = max(e.exit_code for e in errors)
    return error
