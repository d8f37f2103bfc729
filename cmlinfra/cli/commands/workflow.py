"""``workflow rerun``: run the CI workflow/pipeline again (GitHub, GitLab)."""

from __future__ import annotations

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

app = typer.Typer(help="Control CI workflows (CML-compatible).", no_args_is_help=True)


@app.command("rerun")
def rerun(
    ctx: typer.Context,
    run_id: str = typer.Option(
        None, "--id", help="Workflow run / pipeline id. Default: this CI run's."
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Re-run a workflow run (GitHub) or retry a pipeline (GitLab)."""
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.ui import emit

    context, forge = connect(driver, repo, token)
    target = run_id or context.run_id
    if context.driver == "bitbucket":  # cannot rerun at all: say so before asking for --id
        forge.rerun_workflow(target)
    if not target:
        raise UsageError("no workflow run to rerun", "pass --id RUN_ID")
    forge.rerun_workflow(target)
    emit({"rerun": target}, as_json=settings(ctx).as_json, text=f"rerun requested: {target}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="workflow")
