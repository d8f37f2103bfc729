"""SSH host keys of an EC2 instance, read from its console output.

The console output is fetched through an AWS-authenticated API, so the keys cloud-init prints
there are a trustworthy source: the first SSH connection verifies the host instead of trusting
whatever answers (never trust-on-first-use), and no private host key ever goes through Terraform.
"""

from __future__ import annotations

import base64
import binascii
import re

from cmlinfra.clouds.aws.lookups import aws_errors, ec2_client
from cmlinfra.clouds.shared import poll_api

HOST_KEYS = re.compile(
    r"-----BEGIN SSH HOST KEY KEYS-----(.*?)-----END SSH HOST KEY KEYS-----", re.S
)
KEY_LINE = re.compile(r"((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+=*)")


def host_keys_from_console(text: str) -> tuple[str, ...]:
    """Host public keys from the last ``SSH HOST KEY KEYS`` block cloud-init printed."""
    blocks = HOST_KEYS.findall(text.replace("\r", ""))
    if not blocks:
        return ()
    return tuple(m.group(1) for line in blocks[-1].splitlines() if (m := KEY_LINE.search(line)))


def console_host_keys(region: str, instance_id: str, wait_s: float) -> tuple[str, ...]:
    """Poll the instance's console output (an AWS-authenticated channel, so a trustworthy
    source of the host keys) until cloud-init has printed them or ``wait_s`` passes."""
    client = ec2_client(region)

    def read() -> tuple[str, ...] | None:
        with aws_errors(region, f"reading the console of {instance_id}"):
            output = client.get_console_output(InstanceId=instance_id, Latest=True).get(
                "Output", ""
            )
        try:  # boto3 decodes it; some endpoints return it still base64-encoded
            text = base64.b64decode(output, validate=True).decode(errors="replace")
        except (binascii.Error, ValueError):
            text = output
        return host_keys_from_console(text) or None

    return poll_api(read, wait_s) or ()
