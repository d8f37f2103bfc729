"""The engine's rows in ``cmlinfra doctor``: which terraform will run, and what it can do."""

from __future__ import annotations

from cmlinfra.doctor import Check, CheckFn, Options
from cmlinfra.errors import CmlinfraError


def check_terraform(options: Options) -> list[Check]:
    from cmlinfra.terraform.binary import find_terraform

    try:
        binary = find_terraform(options.get("terraform"))
    except CmlinfraError as exc:
        return [Check("terraform", False, exc.problem, exc.fix)]
    lockfile = binary.at_least(terraform=(1, 10, 0), tofu=(1, 8, 0))
    return [
        Check("terraform", True, f"{binary.flavor} {binary.version_text} at {binary.path}"),
        Check(
            "s3 lockfile",
            lockfile,
            "S3 state can lock with a lockfile (no DynamoDB table needed)"
            if lockfile
            else "S3 state must lock with a DynamoDB table (lockfile needs terraform >= 1.10)",
            "" if lockfile else "use ?lock=dynamodb in --state, or upgrade terraform",
            required=False,
        ),
    ]


CHECKS: list[CheckFn] = [check_terraform]
