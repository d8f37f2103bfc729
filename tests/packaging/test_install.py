"""`pip install` outside the checkout gives a working `cmlinfra` that finds its Terraform modules
— built and installed for real, in fresh virtual environments, three ways: the wheel, the
composite action's own install script, and the CUDA Dockerfile's own `pip install /src` step
(from a build context assembled by the Dockerfile's COPY lines). Dependencies come from PyPI
through pip's cache, as in CI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
HANG = 400  # seconds; the slowest step (a pip install from the cache) takes ~30 s
pytestmark = pytest.mark.slow

CHECK_MODULES = """
import json
import cmlinfra
from cmlinfra.clouds.modules import modules_root
root = modules_root()  # what the clouds use to find their Terraform modules
print(json.dumps({"package": cmlinfra.__file__, "root": str(root), "modules": sorted(
    f"{c.name}/{m.name}" for c in root.iterdir() for m in c.iterdir() if (m / "main.tf").is_file()
)}))
"""


CML_EXECUTABLES = (
    "cml", "cml-runner", "cml-send-comment", "cml-publish", "cml-send-github-check",
    "cml-tensorboard-dev", "cml-pr",
)  # fmt: skip


def _clean_env(venv_dir: Path, **extra: str) -> dict[str, str]:
    """No PYTHONPATH, no project venv: only the new environment on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "CMLINFRA_MODULES"}
    }
    env["PATH"] = f"{venv_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    env["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    # The project's pinned versions (pip's cache has them): deterministic and quick, also for
    # the action's and the Dockerfile's own `pip install` lines, which take no -c themselves.
    env["PIP_CONSTRAINT"] = str(ROOT / "requirements.lock")
    return {**env, **extra}


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cmd``, which must succeed. One that hangs is made to say where: Python's faulthandler
    prints every thread's stack on SIGABRT, and the processes it started are listed (a CI run
    once saw `stack render` from the wheel hang past the test's timeout; it takes 1 s here)."""
    proc = subprocess.Popen(
        cmd, env={**env, "PYTHONFAULTHANDLER": "1"}, cwd=cwd, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        tree = subprocess.run(
            ["ps", "-eo", "pid,ppid,etimes,stat,args", "--forest"], capture_output=True, text=True
        ).stdout
        proc.send_signal(signal.SIGABRT)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        pytest.fail(f"{cmd} hung for {HANG} s:\n{stderr[-6000:]}\n{stdout[-1000:]}\n{tree[-6000:]}")
    result = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    assert result.returncode == 0, f"{cmd}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


def _expected_modules() -> list[str]:
    root = ROOT / "terraform" / "modules"
    return sorted(str(p.parent.relative_to(root)) for p in root.glob("*/*/main.tf"))


def _assert_working_install(venv_dir: Path, cwd: Path) -> None:
    env = _clean_env(venv_dir)
    assert _run(["cmlinfra", "--version"], env, cwd).stdout.startswith("cmlinfra ")
    assert "Usage" in _run(["cmlinfra", "--help"], env, cwd).stdout
    found = yaml.safe_load(
        _run([str(venv_dir / "bin" / "python"), "-c", CHECK_MODULES], env, cwd).stdout
    )
    assert found["package"].startswith(str(venv_dir)), "imported from the checkout, not the install"
    assert found["root"].startswith(str(venv_dir)) and found["root"].endswith("cmlinfra/_modules")
    assert found["modules"] == _expected_modules()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)],
        _clean_env(Path(sys.prefix)),
        out,
    )
    (built,) = out.glob("cmlinfra-*.whl")
    return built


def test_wheel_carries_modules_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = ROOT / "terraform" / "modules"
    for path in modules.rglob("*"):
        if path.is_file() and ".terraform" not in path.parts:
            assert f"cmlinfra/_modules/{path.relative_to(modules)}" in names
    assert "cmlinfra/images/cleanup.sh" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".tfstate") for n in names)


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("wheel-venv")
    venv.create(where / "venv", with_pip=True)
    pip = [str(where / "venv" / "bin" / "python"), "-m", "pip", "install", "-q"]
    constraints = ["-c", str(ROOT / "requirements.lock")]
    _run([*pip, *constraints, str(wheel)], _clean_env(where / "venv"), where)
    return where / "venv"


def test_fresh_venv_from_the_wheel(wheel_venv: Path, tmp_path: Path) -> None:
    _assert_working_install(wheel_venv, tmp_path)


@pytest.mark.lxd
def test_installed_cli_composes_a_stack_from_its_own_modules(
    wheel_venv: Path, tmp_path: Path
) -> None:
    """`stack render` from the installed wheel, outside the checkout: cdktn (jsii, Node.js)
    composes the lxd/runner module that the wheel carries."""
    env = _clean_env(wheel_venv, CMLINFRA_HOME=str(tmp_path / "home"))
    _run(["cmlinfra", "stack", "render", "--cloud", "lxd", "--name", "cmlt-pkg"], env, tmp_path)
    rendered = "\n".join(p.read_text() for p in (tmp_path / "home").rglob("*.tf.json"))
    assert str(wheel_venv) in rendered and "_modules/lxd/runner" in rendered


def test_the_actions_install_script(tmp_path: Path) -> None:
    """action.yml's "Install cmlinfra" step, verbatim, with `version` left empty."""
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    (step,) = [s for s in steps if s.get("name") == "Install cmlinfra"]
    venv.create(tmp_path / "venv", with_pip=True)  # stands in for actions/setup-python
    env = _clean_env(tmp_path / "venv", CMLINFRA_VERSION="", CMLINFRA_SOURCE=str(ROOT))
    _run(["bash", "-c", step["run"]], env, tmp_path)
    _assert_working_install(tmp_path / "venv", tmp_path)
    bin_dir = tmp_path / "venv" / "bin"
    for name in CML_EXECUTABLES:  # CML's executables are on PATH: a CML workflow runs as is
        assert (bin_dir / name).is_file(), name
    assert (
        "Usage: cml comment create" in _run(["cml", "send-comment", "--help"], env, tmp_path).stdout
    )
    # the action's opt-out removes exactly those, and leaves a Node.js CML's `cml` alone
    (opt_out,) = [s for s in steps if s.get("name") == "Keep CML's own executables"]
    node_cml = tmp_path / "node" / "cml"
    node_cml.parent.mkdir()
    node_cml.write_text("#!/usr/bin/env node\nrequire('../bin/cml.js')\n")
    _run(["bash", "-c", opt_out["run"]], env, tmp_path)
    assert not [n for n in CML_EXECUTABLES if (bin_dir / n).exists()]
    assert (bin_dir / "cmlinfra").is_file() and node_cml.is_file()


def test_the_cuda_dockerfiles_install_step(tmp_path: Path) -> None:
    """The Dockerfile's COPY lines assemble /src, then its `pip install /src` RUN runs as is
    (with /src and /opt/cmlinfra moved under tmp_path)."""
    parsed = DockerfileParser(str(ROOT / "images" / "cuda" / "Dockerfile"), env_replace=False)
    src, venv_dir = tmp_path / "src", tmp_path / "opt-cmlinfra"
    src.mkdir()
    for item in (i for i in parsed.structure if i["instruction"] == "COPY"):
        *sources, destination = item["value"].split()
        for source in sources:
            target = src / Path(destination).relative_to("/src") if destination != "/src/" else src
            if (ROOT / source).is_dir():
                shutil.copytree(
                    ROOT / source,
                    target,
                    ignore=shutil.ignore_patterns("__pycache__", ".terraform"),
                )
            else:
                shutil.copy2(ROOT / source, target / source)
    (run,) = [
        i["value"]
        for i in parsed.structure
        if i["instruction"] == "RUN" and "pip install /src" in i["value"]
    ]
    script = run.replace("/src", str(src))
    env = _clean_env(venv_dir, VIRTUAL_ENV=str(venv_dir))
    _run(["bash", "-o", "pipefail", "-c", script], env, tmp_path)
    assert not src.exists()  # the step removes its build context
    _assert_working_install(venv_dir, tmp_path)
