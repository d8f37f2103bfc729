"""Where a forge token comes from: ``--token``, else the first of the CI's variables that is
set (REPO_TOKEN first, so one variable serves every forge). A missing token's fix says what
kind of token the forge needs, and a token is checked before it reaches an HTTP header, in
one line that never shows it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.secrets import Secret

TOKEN_VARS = {
    "github": ("REPO_TOKEN", "GITHUB_TOKEN"),
    "gitlab": ("REPO_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN"),
    "bitbucket": ("REPO_TOKEN", "BITBUCKET_TOKEN"),
}

TOKEN_NEEDS = {
    "github": "a token with contents, pull-requests and checks write access (in Actions: "
    "env: REPO_TOKEN: ${{ secrets.GITHUB_TOKEN }} with a permissions: block)",
    "gitlab": "a project or personal access token with the api scope",
    "bitbucket": "a repository access token, or user:app-password",
}


def find_token(
    driver: str, env: Mapping[str, str], token: str | None, option: str | None = "--token"
) -> tuple[Secret, str]:
    """The token and where it came from (``--token`` or the variable's name). ``option``: the
    command's own option for a token, which a missing token's fix offers (None: it has none)."""
    if token:
        return _checked(token, "--token"), "--token"
    for var in TOKEN_VARS[driver]:
        if env.get(var):
            return _checked(env[var], var), var
    names = " or ".join(TOKEN_VARS[driver])
    offer = f", or pass {option}" if option else ""
    raise CmlinfraError(f"no {driver} token found", f"set {names} to {TOKEN_NEEDS[driver]}{offer}")


def _checked(value: str, source: str) -> Secret:
    """The token, without the blanks a pasted secret often carries at its ends. Every forge
    token is printable ASCII: anything else (a non-Latin-1 character cannot even go into an
    HTTP header) is refused in one line that never shows the value."""
    value = value.strip()
    secret = Secret(value)
    if not all(" " < c <= "~" for c in value):
        raise UsageError(
            f"the token in {source} holds a character no forge token has (not printable ASCII)",
            f"set {source} to the token itself, as the forge showed it",
        )
    return secret
