"""``ci``: prepare the checkout for commits made from CI (like ``cml ci``).

Sets the git identity and, for the forge's host only, a credential helper that reads the token
from the environment when git asks, so the token is never written into ``.git/config`` or a
remote URL (see :mod:`cmlinfra.forges.git_ci`).
"""

from __future__ import annotations

import typer

from cmlinfra.cli.forge_common import driver_option, repo_option

DEFAULT_NAME = "cmlinfra[bot]"
DEFAULT_EMAIL = "cmlinfra@users.noreply.github.com"


def register(root: typer.Typer) -> None:
    @root.command("ci")
    def ci(
        user_email: str = typer.Option(DEFAULT_EMAIL, "--user-email", help="Git author email."),
        user_name: str = typer.Option(DEFAULT_NAME, "--user-name", help="Git author name."),
        credentials: bool = typer.Option(
            True,
            "--credentials/--no-credentials",
            help="Let git fetch and push to the forge's host (only that host) with the token "
            "from the environment (REPO_TOKEN, …); drops the Authorization header "
            "actions/checkout leaves, so REPO_TOKEN is the token used.",
        ),
        unshallow: bool = typer.Option(
            False,
            "--unshallow",
            help="Fetch the full history when the checkout is a shallow clone (as CI clones "
            "usually are), for commands that compare with older commits.",
        ),
        fetch_depth: int = typer.Option(
            None,
            "--fetch-depth",
            help="Fetch every branch and tag this many commits deep; 0: the full history "
            "(CML's --fetch-depth).",
        ),
        driver: str = driver_option(),
        repo: str = repo_option(),
    ) -> None:
        """Configure git in this checkout for commits and pushes from CI (CML's ``cml ci``,
        also spelled ``cml repo prepare``)."""
        import os

        from cmlinfra.forges import git_ci
        from cmlinfra.forges.context import require_https
        from cmlinfra.ui import progress

        git_ci.git("rev-parse", "--git-dir")
        if credentials:  # checked before anything is configured
            kind, web = git_ci.forge_url(driver, repo, os.environ)
            require_https(web, "the forge's git URL")
        git_ci.git("config", "user.name", user_name)
        git_ci.git("config", "user.email", user_email)
        progress(f"git identity: {user_name} <{user_email}>")
        if credentials:
            for line in git_ci.configure_credentials(kind, web, os.environ):
                progress(line)
        if fetch_depth is not None:
            done = git_ci.fetch_depth(fetch_depth)
            if done:
                progress(done)
        elif unshallow and git_ci.unshallow():
            progress("fetched the full history")
