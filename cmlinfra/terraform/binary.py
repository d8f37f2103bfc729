"""Finding the terraform (or OpenTofu) binary and deciding whether we can drive it.

The engine renders version-specific configuration (the S3 backend changed its options in 1.6,
lockfile locking arrived in 1.10), so the version is read once, here, and travels with the path.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import scrubbed_environment

ENV_VAR = "CMLINFRA_TERRAFORM"

# Terraform 1.0 is the first release with the 1.x compatibility promises (state format, plan
# JSON, `-json` UI stream); 2.x may break them. OpenTofu forked from 1.6 and kept them.
MIN_TERRAFORM = (1, 0, 0)
MIN_TOFU = (1, 6, 0)
MAX_EXCLUSIVE = (2, 0, 0)


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every terraform process (and so of its providers): ours, plus
    ``extra``, without forge tokens (:func:`cmlinfra.secrets.scrubbed_environment`), with the
    checkpoint call and prompts off."""
    env = scrubbed_environment({**os.environ, **(extra or {})})
    env.update(TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    return env


INSTALL_FIX = (
    f"install Terraform >= 1.0 or OpenTofu >= 1.6, or set {ENV_VAR} (or --terraform) to its path"
)

Flavor = Literal["terraform", "tofu"]


@dataclass(frozen=True)
class TerraformBinary:
    """A terraform/tofu executable whose version we have checked."""

    path: Path
    version: tuple[int, int, int]
    flavor: Flavor

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)

    def at_least(self, terraform: tuple[int, int, int], tofu: tuple[int, int, int]) -> bool:
        """Whether this binary has a feature that arrived in ``terraform`` / ``tofu`` versions."""
        return self.version >= (tofu if self.flavor == "tofu" else terraform)

    def __str__(self) -> str:
        return f"{self.flavor} {self.version_text} ({self.path})"


def _parse_version(text: str) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _flavor(path: Path, version_output: str) -> Flavor:
    """OpenTofu prints the same ``version -json`` keys as terraform, so tell them apart by the
    resolved executable's name (a ``terraform -> tofu`` symlink is still tofu)."""
    if "tofu" in path.resolve().name.lower() or "opentofu" in version_output.lower():
        return "tofu"
    return "terraform"


def inspect_binary(path: Path) -> TerraformBinary:
    """Run ``PATH version -json`` and check the version is one we support. Remembered per
    file for the life of the process (a launcher looks it up ahead, in parallel with its
    other checks, and again when it prepares the stack); a changed file is asked again. One
    caller at a time: the second waits for the first's answer instead of running its own
    ``version`` process (≈ 0.1 s of CPU that a launch of four runners would pay twice)."""
    try:
        stat = path.stat()
    except OSError:
        return _inspect(path)
    with _INSPECTING:
        return _inspected(path, stat.st_mtime_ns, stat.st_size)


_INSPECTING = threading.Lock()


@functools.lru_cache(maxsize=8)
def _inspected(path: Path, mtime_ns: int, size: int) -> TerraformBinary:
    return _inspect(path)


def _inspect(path: Path) -> TerraformBinary:
    try:
        out = subprocess.run(
            [str(path), "version", "-json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CmlinfraError(f"cannot run {path} version: {exc}", INSTALL_FIX) from exc
    version: tuple[int, int, int] | None = None
    try:
        version = _parse_version(str(json.loads(out.stdout).get("terraform_version", "")))
    except (ValueError, AttributeError):
        # Terraform < 0.13 has no `version -json`: it prints "Terraform v0.12.31".
        match = re.search(r"(?:Terraform|OpenTofu) v(\d+\.\d+\.\d+)", out.stdout + out.stderr)
        version = _parse_version(match[1]) if match else None
    if version is None:
        raise CmlinfraError(
            f"{path} does not look like terraform or tofu (`version -json` printed "
            f"{(out.stdout or out.stderr).strip()[:80]!r})",
            INSTALL_FIX,
        )
    binary = TerraformBinary(path=path, version=version, flavor=_flavor(path, out.stdout))
    minimum = MIN_TOFU if binary.flavor == "tofu" else MIN_TERRAFORM
    if not minimum <= version < MAX_EXCLUSIVE:
        raise CmlinfraError(
            f"{binary.flavor} {binary.version_text} at {path} is not supported "
            f"(need {binary.flavor} >= {'.'.join(map(str, minimum))} and < 2.0)",
            INSTALL_FIX,
        )
    return binary


def _resolve(name: str, origin: str) -> Path:
    found = shutil.which(name) if os.sep not in name else (name if Path(name).is_file() else None)
    if not found:
        raise CmlinfraError(f"{origin} {name!r} is not an executable file", INSTALL_FIX)
    return Path(found).absolute()


def find_terraform(explicit: str | None = None) -> TerraformBinary:
    """The binary to use: ``explicit`` (a path or a name on PATH) > ``$CMLINFRA_TERRAFORM`` >
    ``terraform`` on PATH > ``tofu`` on PATH. Raises a one-line error when none fits."""
    if explicit:
        return inspect_binary(_resolve(explicit, "--terraform"))
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return inspect_binary(_resolve(from_env, ENV_VAR))
    first_error: CmlinfraError | None = None
    for name in ("terraform", "tofu"):
        found = shutil.which(name)
        if found:
            try:
                return inspect_binary(Path(found).absolute())
            except CmlinfraError as exc:  # an old terraform should not hide a good tofu
                first_error = first_error or exc
    raise first_error or CmlinfraError("neither terraform nor tofu is on PATH", INSTALL_FIX)
