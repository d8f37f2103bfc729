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

import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.launch import (
    LaunchOptions,
    LaunchResult,
    begin,
    bring_up,
    check,
    prepare,
)
from cmlinfra.runner.reuse import name_free

MAX_COUNT = 64


def names(base: str, count: int) -> list[str]:
    """``base-1`` … ``base-N`` (validated as hostnames with the rest of the request)."""
    return [f"{base}-{index}" for index in range(1, count + 1)]


def launch_many(opts: LaunchOptions, count: int) -> list[LaunchResult]:
    """Launch ``count`` runners (all or none); the results in name order."""
    from cmlinfra.runner.signals import cancellable, shielded

    if not 1 < count <= MAX_COUNT:
        raise UsageError(f"--count {count} is out of range", f"give 1 to {MAX_COUNT}")
    if opts.reuse or opts.reuse_idle:
        raise UsageError(
            "--reuse and --reuse-idle pick one existing runner; --count launches new ones",
            "drop --count, or drop --reuse/--reuse-idle",
        )
    checked = check(opts)
    first = replace(opts, request=replace(opts.request, name=names(opts.request.name, count)[0]))
    plan = prepare(first, checked)  # also: the first name is free at the forge
    if not plan.single:
        raise UsageError(
            "--count launches every runner on one machine type, region and pricing",
            "give one --cloud-region, --cloud-type and --cloud-spot value with --count, or "
            "launch the runners one by one to let each fail over",
        )
    template = plan.options[0].prepared
    others = names(opts.request.name, count)[1:]
    registered = {runner.name for runner in checked.forge.list_runners()}
    for name in others:
        if name in registered:
            name_free(checked.forge, name)  # refuses it, in the usual words
    prepared = [template] + [renamed(template, name) for name in others]
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
        failures = _bring_up_all(sessions, opts, checked.dvc)
    if not failures:
        for session in sessions:
            session.handed_over()
        return [LaunchResult(s.record, s.timings) for s in sessions]
    with shielded(), ThreadPoolExecutor(max_workers=count) as pool:  # tear down side by side
        errors = list(pool.map(lambda s: s.fail(_why(s, failures), shield=False), sessions))
    own = [e for s, e in zip(sessions, errors, strict=True) if s.record.name in failures]
    left = [s.record.name for s in sessions if not s.torn_down]
    raise _summary((own or errors)[0], left, max(e.exit_code for e in errors))


class _Interrupted(BaseException):
    """Raised inside a bring-up thread when the launch is cancelled: it unwinds like Ctrl-C
    does in a single launch (a terraform run gets SIGINT and ends cleanly, SSH is dropped)."""


def renamed(prepared: Any, name: str) -> Any:
    """The same validated request under another name: the cloud's look-ups are not repeated,
    the name is checked, and its stack directory and state are its own. Creates nothing."""
    from cmlinfra.clouds.validate import stack_name
    from cmlinfra.stack.service import Prepared
    from cmlinfra.stack.store import stack_dir
    from cmlinfra.terraform import LocalBackend, parse_state_url

    stack_name(name)
    machine = replace(prepared.machine, request=replace(prepared.machine.request, name=name))
    target = stack_dir(name)
    backend = (
        parse_state_url(prepared.state, name=name)
        if prepared.state
        else LocalBackend(target.workdir / "terraform.tfstate")
    )
    return Prepared(prepared.cloud, machine, prepared.binary, backend, prepared.state, target)


def _bring_up_all(
    sessions: list[Any], opts: LaunchOptions, dvc: Any = None
) -> dict[str, BaseException]:
    """Every bring-up in its own thread; the first failure stops the others at their next
    stage. Returns the failures by runner name: a cancellation counts for every runner; a
    runner stopped by another's failure is left out (see :func:`_why`).

    Signals reach only this (the main) thread. On a cancellation each bring-up still running
    gets :class:`_Interrupted` raised in its thread, at once where it is polling (a terraform
    run's output, an SSH command, a boot wait) or when its current sleep ends."""
    from cmlinfra.runner.machine import Stopped

    stop = threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def run(session: Any) -> None:
        try:
            session.stop = stop
            bring_up(session, opts, dvc)
            outcome[session.record.name] = None
        except BaseException as exc:
            outcome[session.record.name] = exc
            if not isinstance(exc, Stopped):
                stop.set()

    threads = [
        threading.Thread(target=run, args=(s,), name=f"runner-{i}", daemon=True)
        for i, s in enumerate(sessions, 1)
    ]
    for thread in threads:
        thread.start()
    try:
        _join(threads)
    except BaseException as exc:  # Cancelled / KeyboardInterrupt, raised in this thread
        stop.set()
        for thread in threads:
            if thread.is_alive() and thread.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread.ident), ctypes.py_object(_Interrupted)
                )
        _join(threads)  # the handler ignores further signals until the teardown is over
        return {session.record.name: exc for session in sessions}
    failures: dict[str, BaseException] = {}
    for session in sessions:
        error = outcome.get(session.record.name, _Interrupted())
        if error is not None and not isinstance(error, Stopped):
            failures[session.record.name] = error
    return failures


def _join(threads: list[threading.Thread]) -> None:
    """Wait for every thread, waking twice a second so a signal is handled promptly."""
    for thread in threads:
        while thread.is_alive():
            thread.join(0.5)


def _why(session: Any, failures: dict[str, BaseException]) -> BaseException:
    """The runner's own failure, else why it is torn down although it came up."""
    from cmlinfra.runner.machine import Stopped

    own = failures.get(session.record.name)
    if own is not None:
        return own
    return Stopped(f"torn down because runner {next(iter(failures))} of the same launch failed")


def _summary(first: CmlinfraError, left: list[str], exit_code: int) -> CmlinfraError:
    """One line: the first runner's own failure, and what the teardown of all of them did
    (each runner's own outcome was printed as it happened)."""
    if left:
        what = f"the teardown of {', '.join(left)} failed; 'cmlinfra gc --yes' retries it"
    else:
        what = "every runner of this --count launch was torn down with it"
    error = CmlinfraError(f"{first.problem} ({what})", first.fix)
    error.exit_code = exit_code
    return error
