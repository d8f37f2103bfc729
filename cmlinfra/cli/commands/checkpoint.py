"""``checkpoint restore``: a re-run job gets back what its reclaimed spot runner saved.

The runner side is ``runner launch --checkpoint-dir`` (runner/checkpoints.py); this is the step
the job runs before it trains (runner/checkpoint_restore.py, docs/reclaim.md).
"""

from __future__ import annotations

from pathlib import Path

import typer

# one paragraph per line of --help: typer keeps the line breaks of every paragraph after the first
RESTORE_HELP = (
    "Restore this job's checkpoint, if its last attempt's spot runner saved one.\n\n"
    "When a runner launched with 'runner launch --checkpoint-dir DIR' is reclaimed, its "
    "machine uploads DIR of the running job's workspace to the registry, and 'gc' re-runs the"
    " lost job and keeps the checkpoint for it. Run this as a step before training: it finds "
    "the job's checkpoint from the CI environment (GitHub: GITHUB_REPOSITORY, GITHUB_RUN_ID, "
    "GITHUB_JOB; GitLab: CI_PROJECT_PATH, CI_PIPELINE_ID, CI_JOB_NAME; Bitbucket, where the "
    "re-run is a new pipeline: its step's name and the earlier pipeline on the same commit and "
    "ref, asked of the API with REPO_TOKEN or BITBUCKET_TOKEN) and extracts it into "
    "FOLDER, refusing any member that would land outside it. Without a checkpoint it says so "
    "and exits 0, so the same step serves the first attempt too."
)


def register(root: typer.Typer) -> None:
    group = typer.Typer(
        help="Checkpoints a reclaimed spot runner saved for its job's re-run.",
        no_args_is_help=True,
    )

    @group.command("restore", help=RESTORE_HELP)
    def restore(
        ctx: typer.Context,
        folder: Path = typer.Argument(
            ..., help="Where the checkpoint goes: the runner's --checkpoint-dir."
        ),
        state: str = typer.Option(
            ...,
            "--state",
            help="The runner registry the runner was launched with (s3://BUCKET/PREFIX?region=…, "
            "gs://BUCKET/PREFIX or azurerm://ACCOUNT/CONTAINER/PREFIX).",
        ),
    ) -> None:
        """The job-side half of runner-mode checkpoints (see RESTORE_HELP)."""
        from cmlinfra.cli.common import settings
        from cmlinfra.runner.checkpoint_restore import restore as run_restore
        from cmlinfra.ui import emit

        line = run_restore(state, folder)
        emit({"result": line}, as_json=settings(ctx).as_json, text=line)

    root.add_typer(group, name="checkpoint")
