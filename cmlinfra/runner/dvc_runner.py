"""``runner launch --dvc``: DVC ready for every CI job the runner takes.

The CML workflow on a self-hosted runner is the job's own script (``dvc pull``, train, ``dvc
repro``, ``dvc push``), so here, unlike ``exec --dvc`` (:mod:`cmlinfra.runner.dvc`), cmlinfra
runs no DVC command itself: it prepares the machine once, before the agent starts, and the same
code as ``exec`` decides what that takes (:func:`cmlinfra.runner.dvc.plan` on the launcher,
before anything is created; :func:`cmlinfra.runner.dvc_machine.install` on the machine).

- DVC on ``PATH`` for every user (``/usr/local/bin/dvc``; an image's own DVC with the remote's
  scheme is kept).
- The system-level DVC config (``/etc/xdg/dvc/config``, world-readable, nothing secret): the
  machine-wide cache ``/var/cache/cmlinfra/dvc`` (owned by the job user, 0700), so a second job
  on a reused runner, or a machine from an image baked with it, fetches only what changed; no
  analytics or update checks.
- The remote's credentials, unless the machine has a cloud identity (``--cloud-permission-set``,
  a service account, a managed identity), as the job user's global DVC config
  (``~/.config/dvc/config``, 0600, owned by the job user; DVC merges its ``remote`` section with
  the repository's) and key files under :data:`CREDENTIALS_DIR` (0700 / 0600, the job user's).
  Sent over SFTP into a root-only staging directory and moved into place as root: never
  user-data, Terraform, argv or logs. The watchdog removes them at teardown, after the agent
  (and any job) has stopped and before the machine ends (or, on someone's own machine, stays).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.dvc import CACHE_DIR, DvcPlan
from cmlinfra.ui import progress

SYSTEM_CONFIG = "/etc/xdg/dvc/config"  # DVC's system level on Linux (platformdirs' site config)
CREDENTIALS_DIR = "/etc/cmlinfra/dvc"  # key files the remote's options name (keyfile, …)
STAGE = "/etc/cmlinfra/secrets/dvc-stage"  # root-only, emptied by the setup script
_HOME = re.compile(r"/[A-Za-z0-9._/-]*")


def plan(root: Path, remote: str, request: Any) -> DvcPlan:
    """The launcher's side, before anything is created: the remote, its scheme (the pip
    extra), the credentials to send (none with an instance identity), or a one-line error."""
    from cmlinfra.runner.dvc import plan as dvc_plan

    identity = bool(getattr(request, "permission_set", None))
    return dvc_plan(root, [], remote=remote, identity=identity, secrets_dir=CREDENTIALS_DIR)


def system_config() -> str:
    """World-readable, nothing secret: the cache, and DVC's own phoning home turned off."""
    return (
        f"[core]\n    analytics = false\n    check_update = false\n[cache]\n    dir = {CACHE_DIR}\n"
    )


def _home(ssh: Any, user: str) -> str:
    result = ssh.run(f"getent passwd {shlex.quote(user)} | cut -d: -f6", timeout=60)
    home = next((ln.strip() for ln in result.tail if ln.strip()), "")
    if result.exit_code != 0 or not _HOME.fullmatch(home) or home == "/":
        raise CmlinfraError(
            f"the runner agent's user {user!r} has no usable home directory on {ssh.name}",
            "use an image where that user has one (or none yet: cmlinfra creates it)",
        )
    return home


def _script(plan: DvcPlan, user: str, home: str, staged: list[str]) -> str:
    q = shlex.quote
    owner = f'-o {q(user)} -g "$(id -gn {q(user)})"'
    lines = [
        "set -euo pipefail",
        "umask 022",
        f"install -d -m 0755 {q(str(Path(SYSTEM_CONFIG).parent))}",
        f"cat >{q(SYSTEM_CONFIG)}.partial <<'CMLINFRA_EOF'\n{system_config()}CMLINFRA_EOF",
        f"chmod 0644 {q(SYSTEM_CONFIG)}.partial && mv -f {q(SYSTEM_CONFIG)}.partial "
        f"{q(SYSTEM_CONFIG)}",
        # a baked image's cache was filled by root (exec): the job user takes it over
        f"install -d -m 0700 {q(CACHE_DIR)} && chown -R {q(user)}: {q(CACHE_DIR)}",
    ]
    if plan.files:
        lines.append(f"install -d -m 0700 {owner} {q(CREDENTIALS_DIR)}")
        lines += [
            f"install -m 0600 {owner} {q(STAGE)}/{q(Path(path).name)} {q(path)}"
            for path in plan.files
        ]
    if "config" in staged:
        for directory in (f"{home}/.config", f"{home}/.config/dvc"):
            lines.append(f"[ -d {q(directory)} ] || install -d -m 0700 {owner} {q(directory)}")
        lines.append(f"install -m 0600 {owner} {q(STAGE)}/config {q(home)}/.config/dvc/config")
    lines.append(f"rm -rf -- {q(STAGE)}")
    return "\n".join(lines) + "\n"


def setup(session: Any, plan: DvcPlan, user: str) -> tuple[str, ...]:
    """DVC, the shared cache and the credentials on the machine, for ``user`` (the agent's job
    user, which must exist). Returns what the watchdog removes at teardown."""
    from cmlinfra.runner import dvc_machine

    ssh = session.ssh
    with session.step("dvc setup"):
        dvc_machine.install(ssh, plan)
        home = _home(ssh, user)
        staged: list[str] = []
        for path, content in plan.files.items():
            ssh.put_secret(content, f"{STAGE}/{Path(path).name}")
        credentials = plan.remote_config()
        if credentials is not None:
            ssh.put_secret(credentials, f"{STAGE}/config")
            staged.append("config")
        session.root(_script(plan, user, home, staged), "dvc-runner-setup")
        how = "the machine's own identity" if plan.identity else f"{user}'s own 0600 files"
        progress(
            f"dvc: ready for {user}'s jobs: remote {plan.remote!r} ({plan.url}), cache "
            f"{CACHE_DIR}; credentials: {how}"
        )
    forget = [f"{home}/.config/dvc/config"] if credentials is not None else []
    if plan.files:
        forget.append(CREDENTIALS_DIR)
    return tuple(forget)
