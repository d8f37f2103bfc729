"""``ci``: prepare the checkout for commits made from CI (like ``cml ci``).

Sets the git identity and a credential helper that reads the token from the environment when
git asks, so the token is never written into ``.git/config`` or a remote URL.
"""

from __future__ import annotations

import typer

DEFAULT_NAME = "cmlinfra[bot]"
DEFAULT_EMAIL = "cmlinfra@users.noreply.github.com"
# git runs this shell snippet on demand; it prints the variable's value, never stores it
_TOKEN = "${REPO_TOKEN:-${GITHUB_TOKEN:-${GITLAB_TOKEN:-${CI_JOB_TOKEN:-$BITBUCKET_TOKEN}}}}"
HELPER = (
    '!f() { test "$1" = get || exit 0; echo username=x-access-token; '
    f'echo "password={_TOKEN}"; }}; f'
)


def register(root: typer.Typer) -> None:
    @root.command("ci")
    def ci(
        user_email: str = typer.Option(DEFAULT_EMAIL, "--user-email", help="Git author email."),
        user_name: str = typer.Option(DEFAULT_NAME, "--user-name", help="Git author name."),
        credentials: bool = typer.Option(
            True,
            "--credentials/--no-credentials",
            help="Let git push with the forge token from the environment (REPO_TOKEN, …).",
        ),
    ) -> None:
        """Configure git in this checkout for commits and pushes from CI."""
        import subprocess

        from cmlinfra.errors import CmlinfraError

        def git(*args: str) -> None:
            done = subprocess.run(["git", *args], capture_output=True, text=True)
            if done.returncode != 0:
                raise CmlinfraError(
                    f"git {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}",
                    "run cmlinfra ci inside the repository checkout",
                )

        git("rev-parse", "--git-dir")
        git("config", "user.name", user_name)
        git("config", "user.email", user_email)
        if credentials:
            git("config", "credential.helper", HELPER)
        typer.echo(f"git identity: {user_name} <{user_email}>", err=True)
