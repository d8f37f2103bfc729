"""What `exec` sends: the tree as git sees it — or everything, where git would see nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cmlinfra.runner.worktree import tree_files


def _repo(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text(".cache/\n*.log\n")
    (root / "train.py").write_text("print('train')\n")
    (root / "debug.log").write_text("noise\n")
    return root


def test_a_checkout_sends_what_git_sees(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo")
    (root / ".cache").mkdir()
    (root / ".cache" / "big.bin").write_bytes(b"x")
    assert tree_files(root) == [".gitignore", "train.py"]


def test_a_folder_the_repository_ignores_sends_everything_in_it(tmp_path: Path) -> None:
    """make demo copies the example into .cache/demo/work: git lists nothing there, and the
    training command found no train.py on the machine."""
    work = _repo(tmp_path / "repo") / ".cache" / "demo" / "work"
    (work / "data").mkdir(parents=True)
    (work / "train.py").write_text("print('train')\n")
    (work / "data" / "rows.csv").write_text("a,b\n")
    assert tree_files(work) == ["data/rows.csv", "train.py"]


def test_outside_any_repository_everything_but_git_metadata(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('train')\n")
    (tmp_path / ".git").mkdir()  # a stray one, not a repository
    (tmp_path / ".git" / "HEAD").write_text("x\n")
    assert tree_files(tmp_path) == ["train.py"]
