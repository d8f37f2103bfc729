"""``pr create``: commit files to a new branch through the forge API and open a PR/MR."""

from __future__ import annotations

from pathlib import Path

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

app = typer.Typer(help="Open pull requests (CML-compatible).", no_args_is_help=True)


def _changed_files() -> list[Path]:
    """Modified and untracked files of the current checkout, as ``git status`` lists them."""
    import subprocess

    out = subprocess.run(
        ["git", "ls-files", "--modified", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
    )
    return [Path(line) for line in out.stdout.splitlines() if line.strip()]


@app.command("create")
def create(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        None, help="Files to commit (paths in the checkout). Default: every changed file."
    ),
    branch: str = typer.Option(
        None, "--branch", help="Branch to create. Default: cml-pr-<short commit>."
    ),
    target_branch: str = typer.Option(
        None, "--target-branch", help="Branch to merge into. Default: the CI job's branch."
    ),
    title: str = typer.Option(None, "--title", help="PR title."),
    message: str = typer.Option(None, "--message", help="Commit message."),
    body: str = typer.Option("", "--body", help="PR description."),
    merge: bool = typer.Option(False, "--merge", help="Merge the PR right away (merge commit)."),
    squash: bool = typer.Option(False, "--squash", help="Merge the PR right away (squash)."),
    rebase: bool = typer.Option(False, "--rebase", help="Merge the PR right away (rebase)."),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Commit FILES on a new branch (through the API: no push credentials on the runner) and
    open a pull/merge request; an open PR for the branch is reused."""
    import subprocess

    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.forges.base import FileChange
    from cmlinfra.ui import emit

    methods = [m for m, on in (("merge", merge), ("squash", squash), ("rebase", rebase)) if on]
    if len(methods) > 1:
        raise UsageError("--merge, --squash and --rebase exclude each other", "pick one")
    paths = list(files or []) or _changed_files()
    if not paths:
        raise UsageError("no files to commit", "pass the files, or change some first")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"not files: {', '.join(missing)}", "pass paths of existing files")
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True
    ).stdout.strip()
    root = Path(top).resolve() if top else Path.cwd().resolve()
    changes = []
    for path in paths:
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            raise UsageError(f"{path} is outside the repository {root}", "pass files inside it")
        changes.append(FileChange(resolved.relative_to(root).as_posix(), resolved.read_bytes()))
    context, forge = connect(driver, repo, token)
    short = (context.commit or "head")[:7]
    base = target_branch or context.branch
    if not base:
        raise UsageError("cannot tell the target branch", "pass --target-branch main")
    head = branch or f"cml-pr-{short}"
    pull = forge.create_pr(
        base=base,
        branch=head,
        title=title or f"CML PR for {base} {short}",
        body=body,
        message=message or f"CML commit for {base} {short}",
        files=changes,
        auto_merge=methods[0] if methods else None,  # type: ignore[arg-type]
    )
    emit(pull, as_json=settings(ctx).as_json, text=pull.url)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="pr")
