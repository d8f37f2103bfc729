"""The working tree's round trip for ``exec``: what git would commit goes to the machine, and
the ``--artifacts`` the command wrote come back. One gzip'd tar each way over the session's
transport (SFTP, or a pod's exec stream), so a tree of many small files costs one transfer."""

from __future__ import annotations

import io
import shlex
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

WORKDIR = "/opt/cmlinfra/work"  # the tree on the machine; the command runs here


def tree_files(root: Path) -> list[str]:
    """The files to send: git's tracked and untracked-but-not-ignored files, or everything
    outside ``.git`` when ``root`` is not in a git work tree — or is a folder its enclosing
    repository ignores (a scratch folder such as ``.cache/run``: git would list nothing)."""
    ignored = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "-q", "."], capture_output=True, check=False
    )
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0 and ignored.returncode != 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        return sorted(n for n in names if (root / n).is_file())
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
    )


def pack(root: Path, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            tar.add(root / name, arcname=name, recursive=False)
    return buffer.getvalue()


def send_tree(session: Any, root: Path) -> int:
    """The tree at ``root`` unpacked into :data:`WORKDIR` on the machine; how many files."""
    names = tree_files(root)
    with session.step("sync"):
        remote = session.ssh.put_file(pack(root, names), "tree.tgz", 0o600)
        session.root(f"mkdir -p {WORKDIR} && tar -xzf {remote} -C {WORKDIR}", "sync")
    return len(names)


def fetch_artifacts(session: Any, root: Path, patterns: list[str]) -> list[str]:
    """What the ``patterns`` match in :data:`WORKDIR` brought back into ``root`` (archive members
    are checked: no absolute paths, no ``..``); the files, each once."""
    wanted = list(dict.fromkeys(patterns))
    if not wanted:
        return []
    globs = " ".join(shlex.quote(g) for g in wanted)
    bundle = "/tmp/cmlinfra-artifacts.tgz"
    script = (
        f"shopt -s globstar nullglob; cd {WORKDIR}; files=(); "
        f'for g in {globs}; do for f in $g; do [ -e "$f" ] && files+=("$f"); done; done; '
        # a file two globs match goes once; a path that is not there (yet) is no error
        f'{{ ((${{#files[@]}})) && printf "%s\\0" "${{files[@]}}"; }} | sort -zu | '
        f"tar -czf {bundle} --null -T -; "
        f"chmod 0644 {bundle}"
    )
    with session.step("fetch"):
        session.root(script, "fetch")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "artifacts.tgz"
            local.write_bytes(session.ssh.get_file(bundle))  # SFTP, or a pod's exec stdout
            with tarfile.open(local) as tar:
                members = list(dict.fromkeys(m.name for m in tar.getmembers() if m.isfile()))
                tar.extractall(root, filter="data")  # no absolute paths, no ../
    return members
