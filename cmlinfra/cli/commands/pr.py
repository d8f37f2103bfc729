"""``pr create``: commit files to a new branch through the forge API and open a PR/MR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

if TYPE_CHECKING:
    from cmlinfra.forges.base import PullRequest

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
        False, "--merge", help="Merge the PR with a merge commit once its checks pass (see above)."
    ),
    squash: bool = typer.Option(
        False, "--squash", help="Squash the PR into one commit on the base, once its checks pass."
    ),
    rebase: bool = typer.Option(
        False,
        "--rebase",
        help="Rebase the PR's commits onto the base, once its checks pass (Bitbucket: "
        "fast-forward; not on GitLab).",
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Commit FILES on a new branch (through the API: no push credentials on the runner) and
    open a pull/merge request. An open PR for the branch is reused (its files are not
    committed again).

    --merge, --squash or --rebase: GitHub sets the PR to auto-merge, which merges it once its
    required checks pass (the repository must allow auto-merge); with nothing to wait for
    (checks passed, or a base branch without protection) it is merged at once. GitLab merges
    when the pipeline succeeds, at once if there is none. Bitbucket Cloud has no auto-merge: it
    is merged right away. A reused PR is set to merge too, unless it already is. If the forge
    refuses, the PR stays open and the error says what to do.

    The PR's URL goes to stdout; with --merge/--squash/--rebase one more line on stderr says
    what happened (with --json: the fields merge, merge_method, merge_note and reused)."""
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
    if methods:
        progress(_outcome(pull, forge.name))


def _paragraphs(doc: str) -> str:
    """A docstring's paragraphs each on one line, so the terminal, not the source, wraps them."""
    return "\n\n".join(" ".join(p.split()) for p in doc.strip().split("\n\n"))


app.command("create", help=_paragraphs(create.__doc__ or ""))(create)


def _outcome(pull: PullRequest, forge: str) -> str:
    """The stderr line after --merge/--squash/--rebase: what the forge will do, or did."""
    reused = f"PR #{pull.number} was already open: " if pull.reused else ""
    if pull.merge == "auto-merge-enabled" and pull.merge_note == "already set":
        return f"{reused}already set to auto-merge ({pull.merge_method}): left as it is"
    if pull.merge == "auto-merge-enabled":
        when = "the pipeline succeeds" if forge == "gitlab" else "required checks pass"
        return f"{reused}auto-merge enabled ({pull.merge_method}): merges when {when}"
    if pull.merge == "merged":
        note = f", {pull.merge_note}" if pull.merge_note else ""
        return f"{reused}merged ({pull.merge_method}{note})"
    return f"{reused}not set to merge"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="pr")
