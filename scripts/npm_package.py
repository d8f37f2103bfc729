"""Read files out of a pinned npm package, for the scripts that regenerate test specs.

``npm pack`` fetches the package's tarball from the npm registry (no install, no scripts run);
a tarball already on disk can be given instead, for machines without the registry.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path


def read_members(package: str, members: list[str], tgz: Path | None = None) -> list[bytes]:
    """The bytes of ``members`` (paths inside the tarball, ``package/...``) of ``package``
    (``name@version``), from ``tgz`` or from ``npm pack``."""
    with tempfile.TemporaryDirectory() as tmp:
        if tgz is None:
            name = subprocess.run(
                ["npm", "pack", package, "--silent"],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()[-1]
            tgz = Path(tmp) / name
        with tarfile.open(tgz) as tar:
            found = [tar.extractfile(member) for member in members]
            missing = [m for m, handle in zip(members, found, strict=True) if handle is None]
            if missing:
                raise SystemExit(f"{package}: not in the tarball: {', '.join(missing)}")
            return [handle.read() for handle in found if handle is not None]
