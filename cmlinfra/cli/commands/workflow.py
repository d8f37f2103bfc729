"""``workflow rerun``: run the CI workflow/pipeline again (GitHub, GitLab, Bitbucket)."""

from __future__ import annotations

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

app = typer.Typer(help="Control CI workflows (CML-compatible).", no_args_is_help=True)


@app.command("rerun")
def rerun(
    ctx: typer.Context,
    run_id: str = typer.Option(
        None,
        "--id",
        help="Workflow run / pipeline id (Bitbucket: the pipeline's {UUID} or build number). "
        "Default: this CI run's.",
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Re-run a workflow run (GitHub), retry a pipeline (GitLab), or start a finished
    pipeline again as a new one with the same target (Bitbucket)."""
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.ui import emit

    context, forge = connect(driver, repo, token)
    target = run_id or context.run_id
    if not target:
        raise UsageError("no workflow run to rerun", "pass --id RUN_ID")
    started = forge.rerun_workflow(target) or {}
    text = f"rerun requested: {target}"
    if started:  # Bitbucket: a new pipeline
        note = f" ({started['note']})" if started.get("note") else ""
        text = f"re-ran pipeline {started['rerun_of']} as pipeline {started['pipeline']}{note}: "
        text += started["url"]
    emit({"rerun": target, **started}, as_json=settings(ctx).as_json, text=text)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="workflow")
