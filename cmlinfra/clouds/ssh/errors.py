"""What failures reaching an existing machine mean for a retry. There is no cloud API: the
errors are OpenSSH's and paramiko's (the bootstrap's transport), and the refusals of the
``ssh/host`` module's validations. tests/clouds/ssh/test_errors.py quotes each one."""

from __future__ import annotations

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.clouds.errors import Rule, classify

RULES = (
    # cmlinfra/bootstrap/dial.py: a key the host refuses, a host key other than the trusted one
    Rule(
        ErrorKind.AUTH,
        r"key not accepted|host key of \S+ (?:does not match|is unknown)|"
        r"Authentication failed|Permission denied \(publickey",
    ),
    Rule(
        ErrorKind.TRANSIENT,
        r"[Cc]onnection refused|Connection reset|timed out|No route to host|"
        r"Error reading SSH protocol banner",
    ),
    Rule(ErrorKind.BAD_REQUEST, r"Name or service not known|nodename nor servname|Invalid value"),
)


def classify_error(error: BaseException | str) -> ErrorKind:
    """The kind of an SSH error (``ErrorKind.UNKNOWN`` when no rule knows it)."""
    return classify(error, RULES)
