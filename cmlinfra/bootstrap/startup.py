"""CML's ``--cloud-startup-script``: the user's own script, run as one more bootstrap step.

CML put the decoded script into the instance's user-data. cmlinfra keeps user-data minimal and
free of anything the user passes (user-data is readable by every process on the machine through
the metadata service), so the script runs over SSH as root right after the built-in steps
instead: its output streams live with the host prefix, and a failure is reported as step
``startup-script`` with its exit code and last lines, before the runner is registered.
"""

from __future__ import annotations

import base64
import binascii

from cmlinfra.bootstrap.steps import Step, custom_step
from cmlinfra.errors import UsageError

STEP_NAME = "startup-script"
# The script travels base64-encoded inside the step and is decoded into its own file on the
# host, so no byte of it is interpreted by Jinja2 or by a here-document; ``exec`` honours its
# shebang (a script without one runs under bash, which handles ENOEXEC that way).
TEMPLATE = """set -euo pipefail
script=$(mktemp)
trap 'rm -f "$script"' EXIT
printf '%s' '{{ encoded }}' | base64 -d >"$script"
chmod 700 "$script"
"$script"
"""


def decode(value: str, option: str = "--cloud-startup-script") -> bytes:
    """The script from CML's base64 form (line breaks allowed, as ``base64`` prints them);
    a one-line error for anything else, before anything is created."""
    text = "".join(value.split())
    try:
        script = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(
            f"{option} is not base64", f'pass the script encoded: {option} "$(base64 -w0 FILE)"'
        ) from None
    if not script.strip():
        raise UsageError(f"{option} decodes to an empty script", "pass a script, or drop it")
    return script


def startup_step(script: bytes) -> Step:
    """The bootstrap step that runs ``script`` as root on the machine."""
    encoded = base64.b64encode(script).decode()
    return custom_step(STEP_NAME, TEMPLATE, encoded=encoded)
