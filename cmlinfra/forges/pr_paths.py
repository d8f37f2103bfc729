"""What ``pr create`` commits, chosen from the checkout the way CML chooses it.

- With paths (``pr create .``, ``pr create '*.dvc'``, ``pr create 'models/**'``): the files of
  ``git status`` (modified, added, untracked, deleted) that a path names, a directory holds or a
  glob matches — globs as CML's globby reads them, relative to the current directory, where
  ``*`` stays within a folder, ``**`` crosses folders and dotfiles match.
- Without: the commits already made in the checkout since the CI job's commit, as one commit
  with their files (CML pushes that branch; cmlinfra commits through the API, so no push
  credentials are needed).

Stdlib and git only; :mod:`cmlinfra.forges.git_ci` runs git.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cmlinfra.forges.base import FileChange
from cmlinfra.forges.git_ci import git


@dataclass(frozen=True)
class Changed:
    path: str  # repository-relative, forward slashes
    deleted: bool


def root() -> Path:
    return Path(git("rev-parse", "--show-toplevel")).resolve()


def status() -> list[Changed]:
    """Every changed path of the checkout (untracked files one by one, renames as a deletion
    and an addition), repository-relative."""
    out = git("-c", "core.quotePath=false", "status", "--porcelain=v1", "-z", "-uall")
    items = out.split("\0")
    changed: list[Changed] = []
    i = 0
    while i < len(items):
        entry = items[i]
        i += 1
        if len(entry) < 4:
            continue
        code, path = entry[:2], entry[3:]
        if "R" in code or "C" in code:
            old = items[i]
            i += 1
            if "R" in code:
                changed.append(Changed(old, True))
        changed.append(Changed(path, "D" in code))
    return changed


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """globby's reading of a glob: ``**`` any depth, ``*``/``?`` within one folder, ``[…]``."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append(f"[{'^' + body[1:] if body.startswith('!') else body}]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + "$")


def select(globs: list[str], changed: list[Changed], top: Path, cwd: Path) -> list[Changed]:
    """The changed paths ``globs`` name (relative to ``cwd``), in ``git status`` order."""
    prefix = cwd.resolve().relative_to(top).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    chosen: dict[str, Changed] = {}
    for spec in globs:
        clean = spec.strip()
        target = (cwd / clean).resolve()
        if target.is_dir() or clean in (".", "./", ""):
            inside = target.relative_to(top).as_posix() if target.is_relative_to(top) else None
            if inside is None:
                continue
            base = "" if inside == "." else inside + "/"
            picked = [c for c in changed if c.path.startswith(base)]
        else:
            regex = _glob_regex(prefix + clean.removeprefix("./"))
            picked = [c for c in changed if regex.match(c.path)]
        for item in picked:
            chosen.setdefault(item.path, item)
    order = [c.path for c in changed]
    return sorted(chosen.values(), key=lambda c: order.index(c.path))


def contents(items: list[Changed], top: Path) -> list[FileChange]:
    """The files as they are in the working tree (None: deleted)."""
    return [FileChange(c.path, None if c.deleted else (top / c.path).read_bytes()) for c in items]


@dataclass(frozen=True)
class Commits:
    files: list[FileChange]
    message: str  # the commit's message (one commit), or a summary of several
    author: tuple[str, str]  # the newest commit's (name, email)
    count: int


def commits_since(base: str) -> Commits | None:
    """The commits on HEAD after ``base`` as one change set (None when there are none)."""
    if not base:
        return None
    known = git("cat-file", "-t", base, ok=(0, 1, 128))
    if known != "commit":
        return None
    count = int(git("rev-list", "--count", f"{base}..HEAD") or 0)
    if count == 0:
        return None
    out = git(
        "-c", "core.quotePath=false", "diff", "--name-status", "-z", "--no-renames", base, "HEAD"
    )
    fields = [f for f in out.split("\0") if f]
    files = []
    for code, path in zip(fields[::2], fields[1::2], strict=False):
        deleted = code.startswith("D")
        data = None if deleted else git_bytes("show", f"HEAD:{path}")
        files.append(FileChange(path, data))
    name, email = git("log", "-1", "--format=%an%x00%ae").split("\0")
    if count == 1:
        message = git("log", "-1", "--format=%B")
    else:
        subjects = git("log", "--format=- %s", f"{base}..HEAD")
        message = f"{count} commits\n\n{subjects}"
    return Commits(files, message, (name, email), count)


def git_bytes(*args: str) -> bytes:
    import subprocess

    return subprocess.run(["git", *args], capture_output=True, check=True).stdout


def remote_url(remote: str) -> str:
    """The repository URL of git remote ``remote`` as https://host/owner/name (credentials,
    ``.git`` dropped; ``git@host:owner/name.git`` read as its HTTPS twin)."""
    from urllib.parse import urlparse

    from cmlinfra.errors import UsageError

    url = git("remote", "get-url", remote, ok=(0, 2, 128))
    if not url:
        raise UsageError(f"--remote {remote!r} is not a remote of this checkout", "git remote -v")
    scp = re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)\Z", url)
    if scp and "://" not in url:
        host, path = scp.group(1), scp.group(2)
        return f"https://{host}/{path.strip('/').removesuffix('.git')}"
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    port = f":{parsed.port}" if parsed.port and parsed.scheme in ("http", "https") else ""
    scheme = parsed.scheme if parsed.scheme in ("http", "https") else "https"
    return f"{scheme}://{host}{port}/{parsed.path.strip('/').removesuffix('.git')}"
