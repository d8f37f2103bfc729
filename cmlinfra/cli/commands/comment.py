"""``comment create`` / ``comment update``: post a markdown report to the PR, commit or issue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cmlinfra.cli.forge_common import (
    connect,
    driver_option,
    repo_option,
    resolve_commit,
    token_option,
)

if TYPE_CHECKING:
    from cmlinfra.forges.base import Forge
    from cmlinfra.forges.comments import Posted

app = typer.Typer(
    help="Post a markdown report as a comment (CML-compatible).", no_args_is_help=True
)

TARGET_HELP = (
    "Where to comment: pr, commit, issue/N, pr/N or commit/SHA (any case). Default (auto): "
    "the pull request of the current commit, else the commit."
)


@dataclass(frozen=True)
class Legacy:
    """CML's hidden options of ``comment create`` (accepted; see docs/migrating-from-cml.md)."""

    pr: bool = False  # --pr: the PR of the commit (CML: use --target pr)
    update: bool = False  # --update on create: the same as comment update
    rm_watermark: bool = False  # --rm-watermark: no marker (then no update is possible)
    publish_url: str | None = None  # --publish-url: CML's asset server; cmlinfra has none
    trigger_file: str | None = None  # --trigger-file: CML's --watch trigger


def _where(forge: Forge, context: Any, target: str | None, commit_sha: str | None, pr: bool):
    """The comment's target as CML decides it: ``--commit-sha`` alone is the commit itself
    (with CML's deprecation line), ``--pr`` the pull request of the commit (of
    ``--commit-sha`` when both are given), else ``--target`` (auto by default)."""
    from cmlinfra.errors import UsageError
    from cmlinfra.forges import comments
    from cmlinfra.forges.base import Target

    if target and (commit_sha or pr):
        given = "--commit-sha" if commit_sha else "--pr"
        raise UsageError(
            f"--target and {given} exclude each other (as in CML)",
            "use --target alone: --target pr, or --target commit/SHA",
        )
    if pr:
        _deprecated("use --target=pr instead of --pr")
        commit = commit_sha or context.commit
        return comments.resolve_target(
            forge, "pr", commit=commit, pr=None if commit_sha else context.pr
        )
    if commit_sha:
        _deprecated('use --target="commit/<sha>" instead of --commit-sha=<sha>')
        return Target("commit", commit_sha)
    return comments.resolve_target(forge, target, commit=context.commit, pr=context.pr)


def _deprecated(notice: str) -> None:
    from cmlinfra.cli.cml import warn

    warn(f"Deprecation warning: {notice}")


def _run(
    ctx: typer.Context,
    markdown_file: Path,
    *,
    update: bool,
    target: str | None,
    watermark_title: str,
    publish: bool,
    watch: bool,
    watch_timeout: float,
    watch_interval: float,
    commit_sha: str | None,
    driver: str | None,
    repo: str | None,
    token: str | None,
    legacy: Legacy = Legacy(),
    assets: str = "forge",
) -> None:
    from cmlinfra.cli.cml import warn
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.forges import comments
    from cmlinfra.forges.publish import link_to_run, publish_images, run_url
    from cmlinfra.report.source import decode_report, read_report
    from cmlinfra.ui import emit, progress

    update = update or legacy.update
    if update and legacy.rm_watermark:
        raise UsageError(
            "--rm-watermark leaves nothing to find the comment by next time (as in CML)",
            "drop --rm-watermark to update the comment, or use comment create",
        )
    if legacy.publish_url:
        warn(
            f"--publish-url {legacy.publish_url} ignored: cmlinfra stores report files on the "
            "forge itself, never on an asset server"
        )
    if legacy.trigger_file:
        warn("--trigger-file ignored: --watch watches the report file itself")
    if assets not in ("forge", "run"):
        raise UsageError(f"--assets {assets!r} is not forge or run", "pass --assets run")
    sha = resolve_commit(commit_sha) if commit_sha else None
    parsed = comments.parse_target(target)  # a bad --target fails before any network
    raw, _ = read_report(markdown_file)  # read once: --watch compares against what was posted
    context, forge = connect(driver, repo, token)
    where = _where(forge, context, target if parsed else None, sha, legacy.pr)
    title = comments.expand_title(watermark_title, workflow=context.workflow, run=context.run_id)
    mark = not legacy.rm_watermark

    page = ""
    if publish and assets == "run":
        if not context.run_id:
            raise UsageError("--assets run needs a CI run to link to", "run it in CI")
        page = run_url(context.driver, context.web_url, context.repo, context.run_id)

    def render(raw: bytes) -> str:
        text = decode_report(raw, markdown_file)
        if page:
            return link_to_run(text, markdown_file.parent, page)
        if publish:
            text = publish_images(
                text, markdown_file.parent, forge.upload_asset, source=str(markdown_file)
            )
        return text

    posted = comments.post(forge, where, render(raw), title=title, update=update, mark=mark)
    if posted.truncated:
        progress(f"the report is over {forge.comment_limit:,} characters: cut at a section")
    result = {
        "url": posted.comment.url,
        "id": posted.comment.id,
        "target": str(posted.target),
        "updated": posted.updated,
        "truncated": posted.truncated,
    }
    emit(result, as_json=settings(ctx).as_json, text=posted.comment.url or str(posted.target))
    if watch:
        _watch(
            markdown_file, raw, render, forge, posted, title, watch_timeout, watch_interval, mark
        )


def _watch(
    path: Path,
    posted_raw: bytes,
    render: Callable[[bytes], str],
    forge: Forge,
    posted: Posted,
    title: str,
    timeout: float,
    interval: float,
    mark: bool = True,
) -> None:
    """Re-post when the file changes, until ``timeout`` seconds have passed (bounded).

    A version that is not UTF-8 (or caught half-written mid-character) is skipped with a
    warning: the comment keeps the last good report and the watch goes on."""
    import logging
    import time

    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges import comments
    from cmlinfra.ui import progress

    last, deadline, comment = posted_raw, time.monotonic() + timeout, posted.comment
    progress(f"watching {path} for {timeout:.0f}s")
    while time.monotonic() < deadline:
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        current = path.read_bytes() if path.is_file() else b""
        if current and current != last:
            last = current
            try:
                text = render(current)
            except CmlinfraError as exc:
                logging.getLogger("cmlinfra").warning("warning: not posted: %s", exc.line())
                continue
            body, _ = comments.fit(forge, text, title, mark=mark)
            comment = forge.update_comment(posted.target, comment, body)
            progress(f"{path} changed: comment updated")


def _command(update: bool) -> Callable[..., Any]:
    def command(
        ctx: typer.Context,
        markdown_file: Path = typer.Argument(..., help="The markdown report to post."),
        target: str = typer.Option(None, "--target", help=TARGET_HELP),
        watermark_title: str = typer.Option(
            "",
            "--watermark-title",
            help="Hidden marker that identifies this report for later updates; {workflow} and "
            "{run} are replaced.",
        ),
        publish: bool = typer.Option(
            True,
            "--publish/--no-publish",
            help="Upload the local images the report links to the forge and rewrite the links.",
        ),
        assets: str = typer.Option(
            "forge",
            "--assets",
            help="Where --publish puts the report's local files. forge: uploaded to the forge "
            "(GitHub: the cmlinfra-assets branch, which needs contents: write). run: not "
            "uploaded; each link points at this CI run's page, where the workflow keeps them "
            "as artifacts (actions/upload-artifact): the token needs no write access to the "
            "repository's contents.",
        ),
        native: bool = typer.Option(
            False,
            "--native",
            "--publish-native",
            help="Accepted for CML compatibility: uploads are always native.",
        ),
        watch: bool = typer.Option(
            False, "--watch", help="Keep running and update the comment when the file changes."
        ),
        watch_timeout: float = typer.Option(
            3600.0, "--watch-timeout", min=0, help="Seconds --watch keeps watching."
        ),
        watch_interval: float = typer.Option(
            5.0, "--watch-interval", min=0.05, help="Seconds between checks for --watch."
        ),
        commit_sha: str = typer.Option(
            None,
            "--commit-sha",
            "--head-sha",
            help="Comment on this commit (a SHA or a revision such as HEAD), as CML's "
            "deprecated form of --target commit/SHA; with --pr, the pull request holding it.",
        ),
        driver: str = driver_option(),
        repo: str = repo_option(),
        token: str = token_option(),
        pr: bool = typer.Option(False, "--pr", hidden=True, help="CML: --target pr."),
        legacy_update: bool = typer.Option(False, "--update", hidden=True),
        rm_watermark: bool = typer.Option(False, "--rm-watermark", hidden=True),
        publish_url: str = typer.Option(None, "--publish-url", hidden=True),
        trigger_file: str = typer.Option(None, "--trigger-file", hidden=True),
    ) -> None:
        _run(
            ctx,
            markdown_file,
            update=update,
            target=target,
            watermark_title=watermark_title,
            publish=publish,
            watch=watch,
            watch_timeout=watch_timeout,
            watch_interval=watch_interval,
            commit_sha=commit_sha,
            driver=driver,
            repo=repo,
            token=token,
            legacy=Legacy(pr, legacy_update, rm_watermark, publish_url, trigger_file),
            assets=assets,
        )

    return command


app.command("create", help="Post a new comment with the report (a fresh comment every time).")(
    _command(update=False)
)
app.command(
    "update",
    help="Update this report's comment in place (found by its watermark); create it the "
    "first time.",
)(_command(update=True))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="comment")
