"""The clouds' rows in ``cmlinfra doctor``, gathered from each cloud package.

``cmlinfra doctor`` discovers ``cmlinfra/<area>/checks.py``; clouds are one area with several
packages, so this module is that area's entry and collects ``CHECKS`` from every
``cmlinfra/clouds/<cloud>/checks.py``. Adding a cloud's checks touches no other file, and a
cloud without a checks module (AWS: its checks need credentials and the network) is never
imported here, so doctor does not pay for boto3.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from cmlinfra.clouds import available_clouds
from cmlinfra.doctor import CheckFn


def cloud_checks() -> list[CheckFn]:
    """Every cloud's ``CHECKS``, in cloud name order."""
    found: list[CheckFn] = []
    for cloud in available_clouds():
        package = Path(__file__).parent / cloud
        if not any(m.name == "checks" for m in pkgutil.iter_modules([str(package)])):
            continue
        module = importlib.import_module(f"cmlinfra.clouds.{cloud}.checks")
        found.extend(getattr(module, "CHECKS", ()))
    return found


CHECKS: list[CheckFn] = cloud_checks()
