"""The machine side of ``exec --dvc`` (see :mod:`cmlinfra.runner.dvc` for the design).

Every step runs in the synced tree as root, its output streamed live like the command's, each
timed on its own (``dvc setup``, ``dvc pull``, ``dvc push``) so the breakdown shows where the
minutes went.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner import toolbox
from cmlinfra.runner.dvc import CACHE_DIR, DvcPlan, failure, quoted
from cmlinfra.ui import progress

ENV = "export DVC_NO_ANALYTICS=1 DVC_IGNORE_UPDATES=1 GIT_PYTHON_REFRESH=quiet; "


def _has_dvc(ssh: Any, scheme: str) -> str:
    """The machine's own DVC version when it supports the remote's scheme, else ""."""
    check = (
        "command -v dvc >/dev/null 2>&1 && dvc version 2>/dev/null | "
        "sed -n -e 's/^DVC version: \\([^ ]*\\).*/version \\1/p' "
        "-e 's/^[[:space:]]*\\([a-z0-9]*\\) (.*/scheme \\1/p'"
    )
    result = ssh.run(ENV + check, timeout=120)
    lines = list(result.tail)
    version = next((ln.split()[1] for ln in lines if ln.startswith("version ")), "")
    schemes = {ln.split()[1] for ln in lines if ln.startswith("scheme ")}
    return version if version and (scheme in schemes or scheme in ("http", "https")) else ""


def install(ssh: Any, plan: DvcPlan) -> None:
    """DVC on the machine: the image's when it supports the remote's scheme, else sent from
    the launcher (:mod:`cmlinfra.runner.toolbox`) as ``/usr/local/bin/dvc``."""
    found = _has_dvc(ssh, plan.scheme)
    if found:
        progress(f"dvc: the image has DVC {found} with {plan.scheme} support")
        return
    target = toolbox.probe(ssh)
    tarball = toolbox.bundle("dvc", [plan.requirement], target)
    toolbox.install(ssh, "dvc", tarball, {"dvc": ("dvc.cli", "main")})
    progress(f"dvc: installed {plan.requirement} from the launcher")


def setup(session: Any, plan: DvcPlan, workdir: str) -> None:
    """DVC on the machine (the image's, else sent from the launcher) and ``config.local``."""
    ssh = session.ssh
    with session.step("dvc setup"):
        install(ssh, plan)
        for path, content in plan.files.items():
            ssh.put_secret(content, path)
        ssh.put_secret(plan.config_local(), f"{workdir}/.dvc/config.local")
        prepared = ssh.run(f"mkdir -p {CACHE_DIR} && chmod 0700 {CACHE_DIR}", timeout=60)
        if prepared.exit_code != 0:
            raise CmlinfraError(f"cannot create the DVC cache {CACHE_DIR} on {ssh.name}")
        credentials = "the machine's own identity" if plan.identity else "a root-only file"
        progress(f"dvc: remote {plan.remote!r} ({plan.url}); credentials: {credentials}")


def _dvc(session: Any, plan: DvcPlan, workdir: str, step: str, args: str, live: Callable) -> None:
    with session.step(f"dvc {step}"):
        result = session.ssh.run(
            f"{ENV}cd {workdir} && dvc {step} {args}".rstrip(), timeout=6 * 3600, on_line=live
        )
    if result.exit_code != 0:
        raise failure(plan, step, result.exit_code, list(result.tail))


def pull(session: Any, plan: DvcPlan, workdir: str, live: Callable) -> None:
    if not plan.pull:
        progress("dvc: no DVC-tracked data the command needs is in the remote yet: nothing to pull")
        return
    _dvc(session, plan, workdir, "pull", quoted(plan.pull), live)


def push(session: Any, plan: DvcPlan, workdir: str, live: Callable) -> None:
    _dvc(session, plan, workdir, "push", "", live)


def cleanup(session: Any, plan: DvcPlan, workdir: str) -> None:
    """Remove the credentials (the machine may outlive the run: a reused runner)."""
    if session.ssh is None:
        return
    paths = [f"{workdir}/.dvc/config.local", *plan.files]
    try:
        session.ssh.run(f"rm -f -- {' '.join(shlex.quote(p) for p in paths)}", timeout=60)
    except Exception as exc:  # the machine is destroyed next anyway
        progress(f"dvc: could not remove the credentials file ({exc}); the machine goes next")
