"""``check create``: a GitHub check run with the report as its summary."""

from __future__ import annotations

from pathlib import Path

import typer

from cmlinfra.cli.forge_common import (
    connect,
    driver_option,
    repo_option,
    resolve_commit,
    token_option,
)

app = typer.Typer(help="Create check runs (GitHub; CML-compatible).", no_args_is_help=True)

CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out")
STATUSES = ("queued", "in_progress", "completed")
SUMMARY_LIMIT = 65_535  # GitHub's limit on output.summary


@app.command("create")
def create(
    ctx: typer.Context,
    markdown_file: Path = typer.Argument(..., help="The markdown report for the summary."),
    title: str = typer.Option("CML Report", "--title", help="Check title (and name)."),
    conclusion: str = typer.Option(
        "success",
        "--conclusion",
        help=f"One of: {', '.join(CONCLUSIONS)}; only with --status completed.",
    ),
    status: str = typer.Option(
        "completed",
        "--status",
        help=f"One of: {', '.join(STATUSES)}. A check that is not completed has no conclusion "
        "(GitHub would mark it completed otherwise).",
    ),
    commit_sha: str = typer.Option(
        None,
        "--commit-sha",
        "--head-sha",
        help="Commit (a SHA or a revision such as HEAD). Default: the CI job's commit.",
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Create a check run on the commit with the report as its summary; an over-long report is
    cut at a section."""
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.report.limits import fit_to_limit
    from cmlinfra.report.source import read_report
    from cmlinfra.ui import emit

    if conclusion not in CONCLUSIONS:
        raise UsageError(f"--conclusion {conclusion!r} is not one of {', '.join(CONCLUSIONS)}")
    if status not in STATUSES:
        raise UsageError(f"--status {status!r} is not one of {', '.join(STATUSES)}")
    _, text = read_report(markdown_file, "write the report first")
    given = resolve_commit(commit_sha) if commit_sha else None
    context, forge = connect(driver, repo, token)
    sha = given or context.commit
    if not sha:
        raise UsageError("no commit for the check", "pass --commit-sha or run in CI")
    summary = fit_to_limit(text, SUMMARY_LIMIT)
    url = forge.create_check(
        sha=sha,
        name=title,
        title=title,
        conclusion=conclusion if status == "completed" else "",
        summary=summary,
        status=status,
    )
    emit({"url": url}, as_json=settings(ctx).as_json, text=url)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="check")
