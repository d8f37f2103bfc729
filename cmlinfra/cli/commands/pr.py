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
    merge: bool = typer.Option(
        False,
        "--merge",
        help="Merge the PR with a merge commit once it may be merged. GitHub: auto-merge, when "
        "the required checks pass (the repository must allow auto-merge; merged at once if "
        "nothing is pending). GitLab: when the pipeline succeeds. Bitbucket: right away "
        "(Bitbucket Cloud has no auto-merge).",
    ),
    squash: bool = typer.Option(
        False,
        "--squash",
        help="Squash-merge the PR once it may be merged. GitHub: auto-merge, when the required "
        "checks pass (the repository must allow auto-merge; merged at once if nothing is "
        "pending). GitLab: when the pipeline succeeds. Bitbucket: right away (no auto-merge).",
    ),
    rebase: bool = typer.Option(
        False,
        "--rebase",
        help="Rebase-merge the PR once it may be merged. GitHub: auto-merge, when the required "
        "checks pass (the repository must allow auto-merge; merged at once if nothing is "
        "pending). Bitbucket: fast-forward, right away (no auto-merge). Not on GitLab.",
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Commit FILES on a new branch (through the API: no push credentials on the runner) and
    open a pull/merge request; an open PR for the branch is reused (and not merged).

    The PR's URL goes to stdout; with --merge/--squash/--rebase one more line on stderr says
    whether the PR was set to merge when its checks pass or merged at once (with --json: the
    fields merge and merge_method)."""
    import subprocess

    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.forges.base import FileChange
    from cmlinfra.ui import emit, progress

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
    if pull.merge == "auto-merge-enabled":
        when = "the pipeline succeeds" if forge.name == "gitlab" else "required checks pass"
        progress(f"auto-merge enabled ({pull.merge_method}): merges when {when}")
    elif pull.merge == "merged":
        progress(f"merged ({pull.merge_method})")
    elif methods:
        progress(f"PR #{pull.number} was already open: reused as it is, not set to merge")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="pr")
