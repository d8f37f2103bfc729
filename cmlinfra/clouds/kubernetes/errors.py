"""What the Kubernetes API's errors (through the client, ``kubectl`` or Terraform's provider)
and cmlinfra's own pod-wait verdicts mean for a retry.

The scheduler's *Insufficient nvidia.com/gpu* and *didn't match Pod's node affinity/selector*
are capacity (no node has it now; another size, selector or an autoscaler may); a
ResourceQuota's *exceeded quota* is the account's limit; 401/403 are credentials; 422
*Invalid* is a request the API will never accept; 429, 5xx, etcd timeouts and refused
connections are worth retrying in place. The harness quotes each message with its source.
"""

from __future__ import annotations

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.errors import Rule, classify

RULES = (
    Rule(ErrorKind.QUOTA, r"exceeded quota|[Ff]orbidden: failed quota"),
    Rule(
        ErrorKind.CAPACITY,
        r"Insufficient (?:nvidia\.com/gpu|cpu|memory|ephemeral-storage|[\w.-]+/[\w.-]+)"
        r"|didn't match Pod's node affinity/selector|untolerated taint"
        r"|no node can run pod|nodes are available",
    ),
    Rule(
        ErrorKind.AUTH,
        r"Unauthorized \(401\)|\(401\)|Forbidden \(403\)|is forbidden: User"
        r"|You must be logged in|the server has asked for the client to provide credentials",
    ),
    Rule(
        ErrorKind.TRANSIENT,
        r"TooManyRequests|\(429\)|\(50[0234]\)|etcdserver: request timed out|[Cc]onnection refused"
        r"|cannot reach the Kubernetes API|not running after|ServiceUnavailable",
    ),
    Rule(
        ErrorKind.BAD_REQUEST,
        r"Invalid \(422\)|is invalid:|BadRequest|ErrImagePull|ImagePullBackOff|InvalidImageName"
        r"|AlreadyExists|admission webhook .* denied",
    ),
)


def classify_error(error: BaseException | str) -> ErrorKind:
    """The kind of a Kubernetes error; a :class:`~.pods.PodWaitError` knows its own, also
    when it is the cause of another (a failed apply wraps what its pod wait raised)."""
    current: BaseException | str | None = error
    while isinstance(current, BaseException):
        kind = getattr(current, "kind", None)
        if isinstance(kind, ErrorKind):
            return kind
        current = current.__cause__
    return classify(error, RULES)
