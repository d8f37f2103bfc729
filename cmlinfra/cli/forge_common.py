"""Options every forge command shares (``--driver``, ``--repo``, ``--token``) and the one
function that turns them plus the CI environment into a driver. Stdlib and typer only at
import time: ``--help`` must stay fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from cmlinfra.forges.base import Forge
    from cmlinfra.forges.context import ForgeContext


def driver_option() -> Any:
    return typer.Option(
        None,
        "--driver",
        help="Forge: github, gitlab or bitbucket. Default: inferred from the CI environment "
        "or the --repo URL.",
    )


def repo_option(
    help: str = "Repository URL (https://github.com/owner/name) or owner/name. Default: the "
    "CI job's repository.",
) -> Any:
    return typer.Option(None, "--repo", help=help)


TOKEN_MARK = "REPO_TOKEN"
TOKEN_NAMES = ("TOKEN", "DRIVER_TOKEN")  # CML_<CMD>_TOKEN, CML_<CMD>_DRIVER_TOKEN


def token_option(purpose: str = "Forge token.") -> Any:
    """``--token``; ``purpose`` says what the token must be allowed to do for this command."""
    return typer.Option(
        None,
        "--token",
        # a list: cli/app.py's add_cml_envvars puts CML_<CMD>_TOKEN and _DRIVER_TOKEN first
        envvar=[TOKEN_MARK],
        show_default=False,
        help=f"{purpose} Prefer the REPO_TOKEN variable: a command-line value is visible "
        "to other processes. Also read: GITHUB_TOKEN, GITLAB_TOKEN, CI_JOB_TOKEN, "
        "BITBUCKET_TOKEN.",
    )


def connect(driver: str | None, repo: str | None, token: str | None) -> tuple[ForgeContext, Forge]:
    from cmlinfra.forges import connect as make_driver
    from cmlinfra.forges.context import detect

    context = detect(driver=driver, repo=repo, token=token)
    return context, make_driver(context)


def resolve_commit(value: str, option: str = "--commit-sha") -> str:
    """A git revision as CML takes it (``HEAD``, ``HEAD~1``, a branch, a short SHA) → the full
    SHA, from the checkout; a full 40-hex SHA is taken as it is (it may not be fetched here)."""
    import re
    import subprocess

    from cmlinfra.errors import UsageError

    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{40}", text):
        return text.lower()
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{text}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    sha = done.stdout.strip() if done is not None and done.returncode == 0 else ""
    if not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise UsageError(
            f"{option} {value!r} is not a commit of this checkout",
            f"pass a full SHA, or run in the git checkout where {value} exists",
        )
    return sha
