"""In-memory gzip'd tar archives for tests that feed cmlinfra what a machine, a registry or an
attacker could hand back (members named freely: ``../`` included)."""

from __future__ import annotations

import io
import tarfile


def tgz(files: dict[str, bytes]) -> bytes:
    """A .tgz holding ``files`` (member name → content), in that order, as given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
