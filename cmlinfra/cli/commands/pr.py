"""``pr create``: commit files to a new branch through the forge API and open a PR/MR."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

if TYPE_CHECKING:
    from cmlinfra.forges.base import PullRequest

app = typer.Typer(help="Open pull requests (CML-compatible).", no_args_is_help=True)


def create(
    ctx: typer.Context,
    paths: list[str] = typer.Argument(
        None,
        metavar="[PATH|GLOB]...",
        help="Changed files to commit: paths, directories ('.') or globs ('*.dvc', "
        "'**/*.json'; quote them). None: open the PR from the commits already made in this "
        "checkout since the CI job's commit.",
    ),
    md: bool = typer.Option(
        False, "--md", help="Print a Markdown link, [CML's Pull Request](URL), instead of the URL."
    ),
    skip_ci: bool = typer.Option(
        False,
        "--skip-ci",
        help="Add [skip ci] to the commit message, so the commit starts no CI run (added "
        "anyway, as CML does, when neither --message nor a merge option is given).",
    ),
    branch: str = typer.Option(
        None,
        "--branch",
        help="Branch to create. Default (CML's): <target branch>-cml-pr-<8 characters of the "
        "commit>.",
    ),
    target_branch: str = typer.Option(
        None, "--target-branch", help="Branch to merge into. Default: the CI job's branch."
    ),
    title: str = typer.Option(
        None, "--title", help="PR title. Default: CML PR for <target branch> <commit>."
    ),
    message: str = typer.Option(
        None, "--message", help="Commit message. Default: CML PR for <commit>."
    ),
    body: str = typer.Option(None, "--body", help="PR description."),
    merge: bool = typer.Option(
        False,
        "--merge",
        "--auto-merge",
        help="Merge the PR with a merge commit once its checks pass (see above).",
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
    remote: str = typer.Option(
        None,
        "--remote",
        help="Git remote naming the repository to open the PR in (CML's; default: the CI "
        "job's repository, or --repo).",
    ),
    user_email: str = typer.Option(
        None, "--user-email", help="Commit author email. Default: the token's user."
    ),
    user_name: str = typer.Option(
        None, "--user-name", help="Commit author name. Default: the token's user."
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Commit PATHS on a new branch (through the API: no push credentials on the runner) and
    open a pull/merge request, as CML's pr create. An open PR for the branch is reused (its
    files are not committed again). Paths that match no changed file: nothing to do (a
    warning, exit 0).

    --merge, --squash or --rebase: GitHub sets the PR to auto-merge, which merges it once its
    required checks pass (the repository must allow auto-merge); with nothing to wait for
    (checks passed, or a base branch without protection) it is merged at once. GitLab merges
    when the pipeline succeeds, at once if there is none. Bitbucket Cloud has no auto-merge: it
    is merged right away. A reused PR is set to merge too, unless it already is. If the forge
    refuses, the PR stays open and the error says what to do.

    The PR's URL goes to stdout; with --merge/--squash/--rebase one more line on stderr says
    what happened (with --json: the fields merge, merge_method, merge_note and reused)."""
    from cmlinfra.cli.cml import warn
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.forges import pr_paths
    from cmlinfra.ui import emit, progress

    methods = [m for m, on in (("merge", merge), ("squash", squash), ("rebase", rebase)) if on]
    if len(methods) > 1:
        raise UsageError("--merge, --squash and --rebase exclude each other", "pick one")
    if bool(user_email) != bool(user_name):
        raise UsageError("--user-email and --user-name go together", "pass both, or neither")
    top = pr_paths.root()
    globs = [p for p in paths or [] if p.strip()]
    if globs:
        changed = pr_paths.status()
        if not changed:
            warn("No changed files matched by glob path. Nothing to do.")  # CML's words
            return
        chosen = pr_paths.select(globs, changed, top, Path.cwd())
        if not chosen:
            warn("Input files are not affected. Nothing to do.")
            return
        files = pr_paths.contents(chosen, top)
    if remote and not repo:
        repo = pr_paths.remote_url(remote)
    context, forge = connect(driver, repo, token)
    sha = context.commit
    short = (sha or "head")[:8]
    author = (user_name, user_email) if user_name else None
    if not globs:
        commits = pr_paths.commits_since(sha)
        if commits is None:
            raise UsageError(
                f"no commits in this checkout since {short} to open a pull request from",
                "commit your changes first, or name the files to commit: pr create .",
            )
        files, author = commits.files, author or commits.author
        message = message or commits.message
        progress(f"opening a PR from {commits.count} commit(s) made since {short}")
    base = target_branch or context.branch
    if not base:
        raise UsageError("cannot tell the target branch", "pass --target-branch main")
    head = branch or f"{base}-cml-pr-{short}"
    commit_message = message or f"CML PR for {short}"
    if globs and (skip_ci or (not message and not methods)):
        commit_message += " [skip ci]"  # CML: a PR of generated files starts no new CI run
    elif not globs and skip_ci and "[skip ci]" not in commit_message:
        commit_message += " [skip ci]"
    pull = forge.create_pr(
        base=base,
        branch=head,
        title=title or f"CML PR for {base} {short}",
        body=body
        if body is not None
        else f"Automated commits for {context.repo_url}/commit/{sha} created by CML.",
        message=commit_message,
        files=files,
        auto_merge=methods[0] if methods else None,  # type: ignore[arg-type]
        author=author,
    )
    kind = "Merge" if forge.name == "gitlab" else "Pull"
    text = f"[CML's {kind} Request]({pull.url})" if md else pull.url
    emit(pull, as_json=settings(ctx).as_json, text=text)
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
