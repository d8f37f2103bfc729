"""``asset publish``: upload a file to the forge itself and print its URL (or markdown)."""

from __future__ import annotations

from pathlib import Path

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

app = typer.Typer(help="Publish files to the forge (CML-compatible).", no_args_is_help=True)


def markdown(url: str, mime: str, title: str, name: str) -> str:
    """CML's ``--md`` output: ``![](URL "TITLE")`` for images and video, ``[TITLE](URL)`` for
    the rest (the file name when there is no title: CML's empty link text shows nothing)."""
    if mime.startswith(("image/", "video/")):
        return f'![]({url} "{title}")' if title else f"![]({url})"
    return f"[{title or name}]({url})"


@app.command("publish")
def publish(
    ctx: typer.Context,
    asset: Path = typer.Argument(..., help="The file to upload."),
    md: bool = typer.Option(
        False, "--md", help='Print Markdown: ![](URL "TITLE") for images, [TITLE](URL) otherwise.'
    ),
    title: str = typer.Option("", "--title", "-t", help="Link text / image title for --md."),
    mime_type: str = typer.Option(
        None, "--mime-type", help="Default: read from the file's content (not its name)."
    ),
    file: Path = typer.Option(
        None, "--file", "-f", help="Append the output to this file (created if missing)."
    ),
    native: bool = typer.Option(
        False, "--native", help="Accepted for CML compatibility: uploads are always native."
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
    gitlab_uploads: bool = typer.Option(False, "--gitlab-uploads", hidden=True),
    rm_watermark: bool = typer.Option(False, "--rm-watermark", hidden=True),
    url: str = typer.Option(None, "--url", hidden=True),
) -> None:
    """Upload FILE to the forge (GitHub: an orphan cmlinfra-assets branch; GitLab: project
    uploads; Bitbucket: Downloads) and print its URL. No third-party host is ever used. A file
    whose name claims an image (or video) that its content is not is refused."""
    from cmlinfra.cli.cml import warn
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.forges.publish import claimed_type, lies
    from cmlinfra.forges.publish import mime_type as sniffed
    from cmlinfra.ui import emit

    if not asset.is_file():
        raise UsageError(f"{asset} does not exist", "pass the path of a file to publish")
    if url:
        warn(f"--url {url} ignored: cmlinfra stores files on the forge itself")
    actual = sniffed(asset)
    claimed = mime_type or claimed_type(asset)
    if lies(claimed, actual):
        raise UsageError(
            f"{asset} is named like {claimed} but its content is {actual}",
            "publish the real file (a text file named .png is not an image)",
        )
    mime = mime_type or actual
    _, forge = connect(driver, repo, token)
    link = forge.upload_asset(asset, mime)
    text = markdown(link, mime, title, asset.name) if md else link
    if file is not None:
        with file.open("a", encoding="utf-8") as out:
            out.write(text)
        emit({"url": link, "markdown": text if md else ""}, as_json=settings(ctx).as_json, text="")
        return
    emit({"url": link, "markdown": text if md else ""}, as_json=settings(ctx).as_json, text=text)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="asset")
