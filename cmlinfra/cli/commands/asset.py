"""``asset publish``: upload a file to the forge itself and print its URL (or markdown)."""

from __future__ import annotations

from pathlib import Path

import typer

from cmlinfra.cli.forge_common import connect, driver_option, repo_option, token_option

app = typer.Typer(help="Publish files to the forge (CML-compatible).", no_args_is_help=True)


@app.command("publish")
def publish(
    ctx: typer.Context,
    asset: Path = typer.Argument(..., help="The file to upload."),
    md: bool = typer.Option(False, "--md", help="Print a markdown link (an image for images)."),
    title: str = typer.Option("", "--title", help="Alt text / link text for --md."),
    mime_type: str = typer.Option(None, "--mime-type", help="Default: from the file name."),
    native: bool = typer.Option(
        False, "--native", help="Accepted for CML compatibility: uploads are always native."
    ),
    driver: str = driver_option(),
    repo: str = repo_option(),
    token: str = token_option(),
) -> None:
    """Upload FILE to the forge (GitHub: an orphan cmlinfra-assets branch; GitLab: project
    uploads; Bitbucket: Downloads). No third-party host is ever used."""
    from cmlinfra.cli.common import settings
    from cmlinfra.errors import UsageError
    from cmlinfra.forges.publish import mime_type as guess
    from cmlinfra.ui import emit

    if not asset.is_file():
        raise UsageError(f"{asset} does not exist", "pass the path of a file to publish")
    _, forge = connect(driver, repo, token)
    mime = mime_type or guess(asset)
    url = forge.upload_asset(asset, mime)
    text = url
    if md:
        label = title or asset.name
        text = f"![{label}]({url})" if mime.startswith("image/") else f"[{label}]({url})"
    emit({"url": url, "markdown": text if md else ""}, as_json=settings(ctx).as_json, text=text)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="asset")
