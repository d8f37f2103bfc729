"""Pre-baked runner images: bake once (driver, Docker, toolkit, agents), launch in seconds.

``cleanup.sh`` is the one list of what a published image must not contain; both
``cmlinfra image bake`` and the Packer template in ``images/packer/`` run it last.
"""

from __future__ import annotations

from pathlib import Path

CLEANUP_SCRIPT = Path(__file__).with_name("cleanup.sh")


def docker_import_script(images: list[tuple[str, str]]) -> str:
    """A bootstrap-style step that puts training images into the baked Docker: ``docker load``
    for a ``docker save`` archive (name ""), ``docker import`` of a root file system otherwise.
    Like every step it checks first and prints ``skip:`` when the images are already there."""
    import shlex

    lines = ["#!/usr/bin/env bash", "set -euo pipefail", "missing=0"]
    for remote, name in images:
        check = f"docker image inspect {shlex.quote(name)} >/dev/null 2>&1" if name else "false"
        load = (
            f"docker import {shlex.quote(remote)} {shlex.quote(name)}"
            if name
            else f"docker load -i {shlex.quote(remote)}"
        )
        lines += [f"if ! {check}; then missing=1; {load}; fi", f"rm -f {shlex.quote(remote)}"]
    lines += ['if [ "$missing" = 0 ]; then echo "skip: already done (docker images)"; fi']
    return "\n".join(lines) + "\n"
