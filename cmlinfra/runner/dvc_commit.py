"""``exec --dvc --commit``: the new ``dvc.lock`` (and git-tracked metrics) onto the PR branch.

The run's outputs are in the DVC remote already; what git needs is the lock file that names
them, so the pull request shows the trained version and a fresh clone ``dvc pull``s it. The
branch is the CI's (the PR's head branch on GitHub, the MR's source branch on GitLab, the
Bitbucket branch), else the checked-out one; it is checked before a machine is created. The push
uses the checkout's own git credentials — in CI, ``cmlinfra ci`` sets them up from REPO_TOKEN.
To propose the change as a new pull request instead, run ``cmlinfra pr create dvc.lock`` after
``exec`` (it commits through the forge's API).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from cmlinfra.errors import CmlinfraError, UsageError

_CI_BRANCH = (
    "GITHUB_HEAD_REF",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME",
    "BITBUCKET_BRANCH",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
)


def _git(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode not in ok:
        lines = done.stderr.strip().splitlines()
        raise CmlinfraError(
            f"--commit: git {args[0]} failed: {lines[-1] if lines else done.returncode}",
            "check the checkout's remote 'origin' and its push credentials ('cmlinfra ci' in CI)",
        )
    return done.stdout.strip()


def branch(root: Path, env: Mapping[str, str] = os.environ) -> str:
    """The branch to push to, or a usage error (before anything is created)."""
    if _git(root, "rev-parse", "--is-inside-work-tree", ok=(0, 128)) != "true":
        raise UsageError(f"--commit: {root} is not a git checkout", "run exec in the repository")
    if not _git(root, "remote", ok=(0,)):
        raise UsageError("--commit: the checkout has no remote to push to", "add 'origin'")
    name = next((env[v] for v in _CI_BRANCH if env.get(v)), "")
    name = name or _git(root, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
    if not name:
        raise UsageError(
            "--commit: cannot tell which branch to push to (a detached HEAD outside CI)",
            "check out the branch first (git switch BRANCH)",
        )
    return name


def commit(root: Path, target: str, files: list[str], message: str) -> str:
    """Commit the changed, git-tracked ``files`` and push them to ``target``; returns a line
    saying what happened."""
    wanted = [f for f in dict.fromkeys(files) if (root / f).is_file()]
    ignored = set()
    if wanted:
        listed = _git(root, "check-ignore", "--no-index", "--", *wanted, ok=(0, 1))
        ignored = set(listed.splitlines())
    keep = [f for f in wanted if f not in ignored]  # DVC-cached outputs live in the remote
    if keep:
        _git(root, "add", "--", *keep)
    staged = ["git", "-C", str(root), "diff", "--cached", "--quiet", "--", *keep]
    if not keep or subprocess.run(staged, check=False).returncode == 0:
        return "--commit: dvc.lock and the metrics did not change: nothing to commit"
    identity = []
    if not _git(root, "config", "user.email", ok=(0, 1)):  # `cmlinfra ci` sets one in CI
        identity = ["-c", "user.name=cmlinfra", "-c", "user.email=cmlinfra@users.noreply.invalid"]
    changed = _git(root, "diff", "--cached", "--name-only", "--", *keep).splitlines()
    _git(root, *identity, "commit", "--quiet", "-m", message, "--", *keep)
    sha = _git(root, "rev-parse", "--short", "HEAD")
    _git(root, "push", "--quiet", "origin", f"HEAD:refs/heads/{target}")
    return f"--commit: pushed {sha} ({', '.join(changed)}) to {target}"
