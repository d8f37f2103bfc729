"""images/cuda/Dockerfile without a Docker daemon: parsed with dockerfile-parse, the hadolint
rules that matter checked by hand, each RUN shellchecked, each COPY source present in the build
context after .dockerignore. (That the `pip install` it runs gives a working cmlinfra is proved
by tests/packaging, from the same build context.)"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "cuda" / "Dockerfile"


@pytest.fixture(scope="module")
def parsed() -> DockerfileParser:
    return DockerfileParser(str(DOCKERFILE), build_args={}, env_replace=True)


def _instructions(parsed: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parsed.structure if i["instruction"] == name]


def test_base_is_a_pinned_cuda_image_with_a_new_enough_python(parsed: DockerfileParser) -> None:
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu24\.04", parsed.baseimage)


def test_apt_installs_are_lean_and_leave_no_lists(parsed: DockerfileParser) -> None:
    runs = _instructions(parsed, "RUN")
    apt = [r for r in runs if "apt-get install" in r]
    assert apt
    for run in apt:
        assert "--no-install-recommends" in run and "rm -rf /var/lib/apt/lists/*" in run
        assert "apt-get update" in run  # same layer: never a stale index


def test_downloads_are_verified_and_pip_keeps_no_cache(parsed: DockerfileParser) -> None:
    runs = " ".join(_instructions(parsed, "RUN"))
    assert "curl -fsSL" in runs and "sha256sum -c" in runs
    env = parsed.envs
    assert env["PIP_NO_CACHE_DIR"] == "1"
    assert env["PATH"].startswith("/opt/cmlinfra/bin:")  # the venv, not Ubuntu's managed python
    assert parsed.structure[-1]["instruction"] == "CMD"


def _dockerignore_keeps(relative: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    keep = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!")
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*"):
            keep = negate
    return keep


def test_every_copy_source_exists_in_the_build_context(parsed: DockerfileParser) -> None:
    copies = _instructions(parsed, "COPY")
    assert copies
    for value in copies:
        *sources, _destination = value.split()
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            kept = [f for f in files if _dockerignore_keeps(str(f.relative_to(ROOT)))]
            assert kept, f"COPY {source}: .dockerignore excludes all of it"
    assert not _dockerignore_keeps(".venv/bin/python")
    assert not _dockerignore_keeps("tests/conftest.py")


def test_every_run_passes_shellcheck(parsed: DockerfileParser) -> None:
    args = {a.split("=")[0]: "x" for a in _instructions(parsed, "ARG")}
    for run in _instructions(parsed, "RUN"):
        script = "#!/usr/bin/env bash\nset -o pipefail\n"
        script += "".join(f"{k}={v}\n" for k, v in {**args, **parsed.envs}.items())
        script += "# shellcheck disable=SC2086\n" + run + "\n"  # build args are word lists
        result = subprocess.run(
            ["shellcheck", "-s", "bash", "-e", "SC2034", "-"],
            input=script,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"RUN {run[:60]}…\n{result.stdout}"
