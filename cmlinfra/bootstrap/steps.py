"""The bootstrap steps: Jinja2 templates next to this module, rendered into standalone bash
scripts.

Every script checks its own result first and prints ``skip: ...`` when there is nothing to do,
so a re-run after a dropped connection resumes where it stopped and a pre-baked image turns the
slow steps into no-ops. ``cmlinfra bootstrap render`` writes exactly these scripts for Packer, so
an image is built by the same code the tests run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from cmlinfra.errors import UsageError
from cmlinfra.secrets import Secret

TEMPLATES = Path(__file__).parent / "templates"
REBOOT_EXIT_CODE = 100  # a script asks for a reboot, then is run again
AGENTS = ("github", "gitlab", "bitbucket", "none")
GPU_STEPS = ("nvidia-driver", "nvidia-container-toolkit", "gpu-check")
STEP_ORDER = ("detect", "nvidia-driver", "docker", "nvidia-container-toolkit", "gpu-check")
GPU_QUERY = "index,name,uuid,driver_version,memory.total,compute_cap"


@dataclass(frozen=True)
class Step:
    """One named script. ``secrets`` (absolute remote path → value) are written to root-only
    files before the script runs; the script reads them from there."""

    name: str
    script: str
    timeout: float | None = None  # None: the run's default
    secrets: Mapping[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """What to install. The defaults suit a GPU CI runner."""

    gpu: bool = True
    runner_agent: str = "none"
    docker_packages: tuple[str, ...] = ("docker.io",)
    gpu_check_image: str = "ubuntu:24.04"
    nvidia_repo: str = "https://nvidia.github.io/libnvidia-container"
    apt_lock_timeout: int = 600
    agent_versions: Mapping[str, str] = field(
        default_factory=lambda: {"github": "2.321.0", "gitlab": "v17.6.0", "bitbucket": "3.7.0"}
    )


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # bash, not HTML
    )


def render(template: str, **context: object) -> str:
    """Render ``templates/<template>.sh.j2`` (or a hook's own template text) with the shared
    helpers available through ``{% include "_lib.sh.j2" %}``."""
    env = _env()
    tpl = (
        env.get_template(f"{template}.sh.j2") if "\n" not in template else env.from_string(template)
    )
    base = {"step": context.get("step", template), "apt_lock_timeout": 600}
    return tpl.render({**base, **context})


def step_names(options: Options) -> list[str]:
    """The default steps for ``options``, in order."""
    names = [n for n in STEP_ORDER if options.gpu or n not in GPU_STEPS]
    if options.runner_agent != "none":
        names.append("runner-agent")
    return names


def build_steps(options: Options, only: Sequence[str] | None = None) -> list[Step]:
    """Render the default steps (or the ``only`` ones, in the default order)."""
    if options.runner_agent not in AGENTS:
        raise UsageError(
            f"unknown runner agent {options.runner_agent!r}", f"choose one of {', '.join(AGENTS)}"
        )
    names = step_names(options)
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise UsageError(
                f"unknown or disabled step(s): {', '.join(unknown)}",
                f"choose from {', '.join(names)}",
            )
        names = [n for n in names if n in only]
    context = {
        "apt_lock_timeout": options.apt_lock_timeout,
        "docker_packages": options.docker_packages,
        "gpu_check_image": options.gpu_check_image,
        "gpu_query": GPU_QUERY,
        "nvidia_repo": options.nvidia_repo,
        "reboot_exit_code": REBOOT_EXIT_CODE,
        "agent": options.runner_agent,
        "versions": dict(options.agent_versions),
    }
    return [Step(name, render(name, step=name, **context)) for name in names]


def write_scripts(steps: Sequence[Step], out: Path) -> list[Path]:
    """``NN-<name>.sh`` per step plus ``steps.json`` (the order), for Packer and for review."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("[0-9][0-9]-*.sh"):  # an earlier render with other steps
        stale.unlink()
    paths = []
    for index, step in enumerate(steps, 1):
        path = out / f"{index:02d}-{step.name}.sh"
        path.write_text(step.script)
        path.chmod(0o755)
        paths.append(path)
    (out / "steps.json").write_text(
        json.dumps(
            {"steps": [p.name for p in paths], "reboot_exit_code": REBOOT_EXIT_CODE}, indent=2
        )
        + "\n"
    )
    return paths
