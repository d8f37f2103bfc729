"""``check create``: a GitHub check run with the report as its summary."""

from __future__ import annotations

from pathlib import Path

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

app = typer.Typer(help="Create check runs (GitHub; CML-compatible).", no_args_is_help=True)

CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out")
SUMMARY_LIMIT = 65_535  # GitHub's limit on output.summary


@app.command("create")
def create(
    ctx: typer.Context,
    markdown_file: Path = typer.Argument(..., help="The markdown report for the summary."),
    title: str = typer.Option("CML Report", "--title", help="Check title (and name)."),
    conclusion: str = typer.Option(
        "success", "--conclusion", help=f"One of: {', '.join(CONCLUSIONS)}."
    ),
    commit_sha: str = typer.Option(None, "--commit-sha", help="Default: the CI job's commit."),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Create a completed check run on the commit; an over-long report is cut at a section."""
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.report.limits import fit_to_limit
    from cmlinfra.report.source import read_report
    from cmlinfra.ui import emit

    if conclusion not in CONCLUSIONS:
        raise UsageError(f"--conclusion {conclusion!r} is not one of {', '.join(CONCLUSIONS)}")
    _, text = read_report(markdown_file, "write the report first")
    context, forge = connect(driver, repo, token)
    sha = commit_sha or context.commit
    if not sha:
        raise UsageError("no commit for the check", "pass --commit-sha or run in CI")
    summary = fit_to_limit(text, SUMMARY_LIMIT)
    url = forge.create_check(
        sha=sha, name=title, title=title, conclusion=conclusion, summary=summary
    )
    emit({"url": url}, as_json=settings(ctx).as_json, text=url)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="check")
