"""Running one terraform process: streaming its stdout, keeping its stderr, stopping it cleanly.

Terraform holds the state lock for as long as it runs, so the one thing this module must get
right is the stop: on Ctrl-C (or any exception while reading) terraform gets SIGINT and time to
finish the resource it is on, write the state and release the lock — never a SIGKILL first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError

DIRECTORY_LOCK = ".cmlinfra-terraform.lock"
INTERRUPT_GRACE_S = 60.0  # time terraform gets to release the lock after SIGINT


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str  # empty when the lines went to ``on_line``
    stderr: str


@contextlib.contextmanager
def directory_lock(workdir: Path) -> Iterator[None]:
    """One terraform process per stack directory: two would share ``.terraform`` and
    ``tfplan``. Separate directories on one *state* are the backend lock's job instead."""
    with open(workdir / DIRECTORY_LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CmlinfraError(
                f"another cmlinfra command is running terraform in {workdir}",
                "wait for it to finish, then run this again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_line: Callable[[str], None] | None = None,
    keep_fds: Sequence[int] = (),
) -> Finished:
    """Run ``argv`` to completion. Each stdout line goes to ``on_line`` as it arrives when
    given (the ``-json`` UI stream), else stdout is returned whole. ``keep_fds`` stay open in
    terraform (the lifeline of the providers it is served, see ``served.py``)."""
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # the terminal's Ctrl-C reaches terraform only via _interrupt
        pass_fds=tuple(keep_fds),
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_chunks: list[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    out_lines: list[str] = []
    try:
        for line in proc.stdout:
            if on_line is not None:
                on_line(line)
            else:
                out_lines.append(line)
        proc.wait()
    except BaseException:
        _interrupt(proc)
        raise
    finally:
        reader.join()
    return Finished(proc.returncode, "".join(out_lines), "".join(stderr_chunks))


def _interrupt(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=INTERRUPT_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_group(proc: subprocess.Popen[Any], grace: float) -> None:
    """SIGTERM the process group that ``proc`` leads (``start_new_session``: it and what it
    started), SIGKILL after ``grace`` seconds if it lingers. Not for terraform itself, which
    gets SIGINT and time to release its lock (:func:`_interrupt`)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
