"""``cmlinfra runner launch|destroy|list``: self-hosted CI runners on a cloud, CML-compatible."""

from __future__ import annotations

import typer

STATE_HELP = (
    "The runner registry: a directory or s3://bucket/prefix?region=… shared by parallel CI jobs "
    "(default: ~/.local/state/cmlinfra/runners)."
)


def register(root: typer.Typer) -> None:
    group = typer.Typer(
        help="Launch, list and destroy self-hosted CI runners on a cloud.", no_args_is_help=True
    )

    @group.command("list")
    def list_(
        ctx: typer.Context,
        state: str = typer.Option("", "--state", help=STATE_HELP),
    ) -> None:
        """Runners in the registry: cloud, type, phase, age, idle time, expiry and cost so far."""
        from cmlinfra.cli.common import settings
        from cmlinfra.runner.listing import list_runners, table
        from cmlinfra.runner.store import open_store
        from cmlinfra.ui import emit

        rows = list_runners(open_store(state or None))
        emit({"runners": rows}, as_json=settings(ctx).as_json, text=table(rows))

    root.add_typer(group, name="runner")
