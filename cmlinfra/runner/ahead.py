"""Work a launcher starts ahead, so that it overlaps the forge and cloud checks instead of
adding to them: cdktn's start-up (its import starts node and loads the assembly, ≈ 0.5 s) and
``terraform version`` (a process, ≈ 0.1 s). Both results are remembered in the process, and
both calls are made again, in order, where they are needed: an error raised ahead is dropped
here and raised there, where it belongs. Neither thread is a daemon: both end within a second,
and a process that exits early waits for them instead of cutting them off mid-way."""

from __future__ import annotations

import contextlib
import threading


def start(terraform: str | None) -> None:
    from cmlinfra.stack.compose import prewarm

    prewarm()
    threading.Thread(target=_find, args=(terraform,), name="terraform-ahead").start()


def _find(terraform: str | None) -> None:
    from cmlinfra.terraform import find_terraform

    with contextlib.suppress(Exception):  # prepare() finds it again and reports what failed
        find_terraform(terraform)
