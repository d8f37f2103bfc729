"""``cmlinfra doctor``: check this machine has what launching a runner needs."""

from __future__ import annotations

import typer


def doctor(
    ctx: typer.Context,
    terraform: str = typer.Option(
        "",
        "--terraform",
        help="Terraform or OpenTofu binary to check (path or name); default: $CMLINFRA_TERRAFORM, "
        "then terraform, then tofu on PATH.",
    ),
) -> None:
    """Check the tools cmlinfra drives (terraform/tofu, Node.js for cdktn, …) and say how to fix
    what is missing. Exits 1 when a required one is missing."""
    import io

    from rich.console import Console
    from rich.table import Table

    from cmlinfra.cli.common import settings
    from cmlinfra.doctor import run_checks
    from cmlinfra.ui import emit

    rows = run_checks({"terraform": terraform or None})
    ok = all(row.ok or not row.required for row in rows)
    table = Table("check", "status", "detail", "fix", box=None, pad_edge=False)
    for row in rows:
        table.add_row(row.name, row.status, row.detail, row.fix)
    buffer = io.StringIO()
    Console(file=buffer, width=160, no_color=True, highlight=False).print(table)
    rendered = "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
    verdict = "ready" if ok else "not ready: fix the MISSING rows above"
    result = {"ok": ok, "checks": [{**row.__dict__, "status": row.status} for row in rows]}
    emit(result, as_json=settings(ctx).as_json, text=f"{rendered}\n\n{verdict}")
    if not ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.command("doctor")(doctor)
