"""The bootstrap steps: Jinja2 templates next to this module, rendered into standalone bash
scripts.

Every script checks its own result first and prints ``skip: ...`` when there is nothing to do,
so a re-run after a dropped connection resumes where it stopped and a pre-baked image turns the
slow steps into no-ops. ``cmlinfra bootstrap render`` writes exactly these scripts for Packer, so
an image is built by the same code the tests run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2

from cmlinfra.errors import UsageError
from cmlinfra.secrets import Secret

TEMPLATES = Path(__file__).parent / "templates"
# A script asks for a reboot (then runs again) by printing "reboot: <why>" last and exiting with
# this code; both are required, so a command that happens to exit 194 cannot trigger a reboot
# (apt-get's own failure code, 100, would have been a poor choice).
REBOOT_EXIT_CODE = 194
AGENTS = ("github", "gitlab", "bitbucket", "none")
GPU_STEPS = ("nvidia-driver", "nvidia-container-toolkit", "gpu-check")
STEP_ORDER = ("detect", "nvidia-driver", "docker", "nvidia-container-toolkit", "gpu-check")
GPU_QUERY = "index,name,uuid,driver_version,memory.total,compute_cap"
# Drivers before 510 refuse the whole query when it names compute_cap ('Field "compute_cap" is
# not a valid field to query.'): the scripts ask again without it.
GPU_QUERY_LEGACY = GPU_QUERY.removesuffix(",compute_cap")


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
    """Render the built-in ``templates/<template>.sh.j2``."""
    return _env().get_template(f"{template}.sh.j2").render(_context(template, context))


def _context(step: str, context: dict[str, object]) -> dict[str, object]:
    """What ``_lib.sh.j2`` needs, under what the step itself passes."""
    shared = {
        "apt_lock_timeout": Options.apt_lock_timeout,
        "gpu_query": GPU_QUERY,
        "gpu_query_legacy": GPU_QUERY_LEGACY,
    }
    return {"step": step, **shared, **context}


def custom_step(
    name: str,
    template: str,
    *,
    secrets: Mapping[str, Secret] | None = None,
    timeout: float | None = None,
    **context: object,
) -> Step:
    """The hook for code that adds its own steps (runner registration, a watchdog unit):
    ``template`` is Jinja2 text that may ``{% include "_lib.sh.j2" %}`` for the shared helpers
    (``skip``, ``die``, ``apt_install``...). Secrets reach the script only as files: pass them
    here and read them from their path in the script, never from the template context."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"step name {name!r}: use lowercase letters, digits and dashes")
    for key, value in context.items():
        if isinstance(value, Secret):
            raise TypeError(f"{key}: a Secret cannot be rendered into a script; pass it in secrets")
    script = _env().from_string(template).render(_context(name, context))
    return Step(name, script, timeout, dict(secrets or {}))


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
