"""What LXD's errors (through its API, ``lxc`` or the terraform-lxd provider) mean for a retry.

LXD has no capacity in the public-cloud sense: its refusals are project limits (a quota) and
the host's own resources. The file-push failure under parallel creation is transient: LXD 5.0.2
fails the provider's push of ``authorized_keys`` now and then (`/work/shared/notes`: seen once in
three runs of the 4-runner parallel benchmark) and the same apply succeeds when retried.
tests/clouds/lxd/test_errors.py quotes each message, with where it was seen.
"""

from __future__ import annotations

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.errors import Rule, classify

RULES = (
    # lxd/project/permissions.go: limits.containers / limits.virtual-machines / limits.instances,
    # and the aggregate limits (limits.cpu, limits.memory, limits.disk, limits.processes)
    Rule(ErrorKind.QUOTA, r"Reached maximum (?:number of instances|aggregate value)"),
    Rule(ErrorKind.TRANSIENT, r"Could not upload file .*forkfile\.sock"),
    Rule(ErrorKind.TRANSIENT, r"LXD is not reachable at|connect: connection refused"),
    Rule(ErrorKind.CAPACITY, r"[Nn]o space left on device|[Cc]annot allocate memory"),
    Rule(ErrorKind.AUTH, r"[Nn]ot authorized|[Pp]ermission denied.*unix\.socket"),
    Rule(ErrorKind.BAD_REQUEST, r"Image not found|Invalid CPU limit syntax|Invalid value for"),
)


def classify_error(error: BaseException | str) -> ErrorKind:
    """The kind of an LXD / terraform-lxd error (``ErrorKind.UNKNOWN`` when no rule knows it)."""
    return classify(error, RULES)
