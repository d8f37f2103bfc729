"""``tensorboard connect``: CML's tensorboard.dev upload, which can no longer work.

tensorboard.dev shut down at the end of 2023, so there is nothing to connect to. The command
stays so a CML workflow that still calls it gets one line saying what replaces it instead of
"no such command": live curves through ``exec --tensorboard`` (served on the machine, forwarded
over SSH) and the curves in the pull request through ``report build --tensorboard``.
"""

from __future__ import annotations

import typer

MESSAGE = (
    "tensorboard.dev shut down at the end of 2023, so 'tensorboard connect' has nothing to "
    "upload to"
)
INSTEAD = (
    "watch training live with 'cmlinfra exec --tensorboard LOGDIR' (TensorBoard on the machine, "
    "forwarded over SSH to a local URL) and put the curves in the PR comment with "
    "'cmlinfra report build --tensorboard LOGDIR'"
)


def register(root: typer.Typer) -> None:
    group = typer.Typer(
        help="TensorBoard (CML's tensorboard.dev upload is gone: see 'connect').",
        no_args_is_help=True,
    )

    @group.command(
        "connect",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def connect(ctx: typer.Context) -> None:
        """CML's upload to tensorboard.dev, which shut down at the end of 2023. Fails with one
        line naming what to use instead: `exec --tensorboard LOGDIR` to watch live and
        `report build --tensorboard LOGDIR` for the report. CML's options are accepted."""
        from cmlinfra.errors import CmlinfraError

        raise CmlinfraError(MESSAGE, INSTEAD)

    root.add_typer(group, name="tensorboard")
