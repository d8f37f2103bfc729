"""Python tools (DVC, TensorBoard) for a machine that cannot reach PyPI itself.

A cloud machine often can reach PyPI, but not always (an LXD container's HTTPS does not
validate here; a locked-down VPC has no egress), and ``pip`` on the machine would need a venv,
``python3-pip`` and minutes per run. So the launcher, which already talks to PyPI through its own
pip, lays the tool out for the *machine's* interpreter and platform (``pip install --target
--platform --python-version --only-binary=:all:``), packs it once into a cached tarball, and
sends it over the SSH connection. On the machine it is unpacked under ``/opt/cmlinfra/tools``
and run by a small wrapper in ``/usr/local/bin`` that puts it on ``sys.path`` for that process
only: the training command's own Python and packages are untouched. A machine (or baked image)
that already has the tool skips all of it.

Pure-Python sdists (hydra's ``antlr4-python3-runtime`` has no wheel) are built into wheels on the
launcher first (``pip wheel``), because ``--platform`` installs accept wheels only.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.ui import progress

TOOLS = "/opt/cmlinfra/tools"
PROBE = (
    "python3 -c 'import sys, platform; "
    'print("python", "%d.%d" % sys.version_info[:2]); '
    'print("machine", platform.machine()); '
    'print("libc", *platform.libc_ver())\' 2>/dev/null || echo "python none"'
)


@dataclass(frozen=True)
class Target:
    """The machine's interpreter and platform, as ``pip --target`` needs them."""

    python: str  # "3.11"
    arch: str  # "x86_64", "aarch64"
    glibc: str  # "2.36"; "" when not glibc (musl): no manylinux wheels fit

    def platforms(self) -> list[str]:
        """Every manylinux tag the machine's glibc accepts, newest first, then pure wheels."""
        tags = []
        if self.glibc:
            major, minor = (int(p) for p in self.glibc.split(".")[:2])
            tags += [f"manylinux_{major}_{m}_{self.arch}" for m in range(minor, 16, -1)]
            tags += [f"manylinux2014_{self.arch}"]
        return [*tags, f"linux_{self.arch}", "any"]


def parse_probe(lines: list[str]) -> Target | None:
    """The :data:`PROBE` output; None when the machine has no python3."""
    fields = dict(line.split(" ", 1) for line in lines if " " in line)
    if fields.get("python", "none") == "none":
        return None
    libc = fields.get("libc", "").split()
    glibc = libc[1] if len(libc) == 2 and libc[0] == "glibc" else ""
    return Target(fields["python"], fields.get("machine", "x86_64"), glibc)


def cache_dir() -> Path:
    """``$CMLINFRA_CACHE``, else ``$XDG_CACHE_HOME/cmlinfra``, else ``~/.cache/cmlinfra``."""
    if os.environ.get("CMLINFRA_CACHE"):
        return Path(os.environ["CMLINFRA_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cmlinfra"


def _pip(args: list[str], what: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "WARNING" not in ln]
        raise CmlinfraError(
            f"could not get {what} from PyPI for the machine "
            f"({lines[-1] if lines else 'pip failed'})",
            "check the launcher's pip index and network, or use an image that has it installed "
            "(cmlinfra image bake)",
        )


def bundle(name: str, requirements: list[str], target: Target) -> Path:
    """The tarball of ``requirements`` laid out for ``target``; built once, then cached."""
    key = hashlib.sha256(
        repr((sorted(requirements), target.python, target.arch, target.glibc)).encode()
    ).hexdigest()[:16]
    root = cache_dir() / "toolbox"
    out = root / f"{name}-py{target.python}-{target.arch}-{key}.tgz"
    if out.is_file():
        return out
    progress(
        f"{name}: laying out {' '.join(requirements)} for the machine's Python {target.python} "
        f"({target.arch}); once, then cached in {root}"
    )
    root.mkdir(parents=True, exist_ok=True)
    wheels = root / f"wheels-py{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        _pip(["wheel", "-q", "-w", str(wheels), *requirements], name)
        platform_args = [a for p in target.platforms() for a in ("--platform", p)]
        _pip(
            [
                "install",
                "-q",
                "--no-compile",
                "--target",
                f"{tmp}/lib",
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--python-version",
                target.python,
                *platform_args,
                "--find-links",
                str(wheels),
                *requirements,
            ],
            name,
        )
        partial = Path(tmp) / "bundle.tgz"
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(f"{tmp}/lib", arcname=".")
        partial.replace(out)  # atomic: a concurrent launcher sees all or nothing
    return out


def wrapper(lib: str, module: str, call: str) -> str:
    """A console script for the machine: ``lib`` on ``sys.path`` for this process only."""
    return (
        "#!/usr/bin/env python3\n"
        f"# installed by cmlinfra: {module} from {lib}\n"
        "import sys\n"
        f"sys.path.insert(0, {lib!r})\n"
        f"from {module} import {call}\n"
        f"sys.exit({call}())\n"
    )


def install(ssh: Any, name: str, tarball: Path, commands: dict[str, tuple[str, str]]) -> str:
    """Send ``tarball`` and unpack it on the machine; ``commands`` maps each console script
    (``dvc``) to its module and function. Returns the machine's library directory."""
    lib = f"{TOOLS}/{name}/{tarball.stem}"
    remote = ssh.put_file(tarball.read_bytes(), f"{name}.tgz", 0o600)
    script = [
        "set -euo pipefail",
        f"if [ ! -e {lib}/.complete ]; then",
        f"  rm -rf {lib}.partial && mkdir -p {lib}.partial",
        f"  tar -xzf {shlex.quote(remote)} -C {lib}.partial",
        f"  touch {lib}.partial/.complete && rm -rf {lib} && mv {lib}.partial {lib}",
        "fi",
        f"rm -f {shlex.quote(remote)}",
    ]
    for command, (module, call) in commands.items():
        body = wrapper(lib, module, call)
        script.append(
            f"printf '%s' {shlex.quote(body)} > /usr/local/bin/{command}; "
            f"chmod 0755 /usr/local/bin/{command}"
        )
    result = ssh.run("\n".join(script), timeout=600)
    if result.exit_code != 0:
        raise CmlinfraError(
            f"installing {name} on {ssh.name} failed: {' '.join(result.tail[-1:])}",
            "check the machine's disk space, or use an image that has it installed",
        )
    return lib


def probe(ssh: Any) -> Target:
    """The machine's Python and platform; Debian's python3 is installed when missing."""
    result = ssh.run(PROBE, timeout=60)
    target = parse_probe(list(result.tail))
    if target is None:
        ssh.run(
            "apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q install -y "
            "--no-install-recommends python3",
            timeout=600,
        )
        target = parse_probe(list(ssh.run(PROBE, timeout=60).tail))
    if target is None:
        raise CmlinfraError(
            f"{ssh.name} has no python3 and it could not be installed",
            "use an image with python3 (3.9 or newer)",
        )
    if tuple(int(p) for p in target.python.split(".")) < (3, 9):
        raise CmlinfraError(
            f"{ssh.name} has Python {target.python}; DVC and TensorBoard need 3.9 or newer",
            "use a newer image, or one with DVC installed",
        )
    return target
