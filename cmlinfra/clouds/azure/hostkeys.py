"""SSH host keys of an Azure VM, read from its boot diagnostics serial log.

cloud-init prints the host keys between ``BEGIN/END SSH HOST KEY KEYS`` on the serial console,
which Azure's (managed) boot diagnostics records. The log is reached through an
ARM-authenticated call (``retrieveBootDiagnosticsData`` hands out a short-lived SAS link to
it), so it is as trustworthy as EC2's console output: the first SSH connection verifies the
host instead of trusting whatever answers, and no private host key ever goes through
Terraform. Run Command would work too, but needs the VM agent's extension channel, which
the gpu-runner module turns off.
"""

from __future__ import annotations

import re
from typing import Any

from cmlinfra.clouds.azure import lookups
from cmlinfra.clouds.azure.errors import azure_errors
from cmlinfra.clouds.shared import poll_api
from cmlinfra.errors import CmlinfraError

HOST_KEYS = re.compile(
    r"-----BEGIN SSH HOST KEY KEYS-----(.*?)-----END SSH HOST KEY KEYS-----", re.S
)
KEY_LINE = re.compile(r"((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+=*)")
VM_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.Compute/virtualMachines/(?P<vm>[^/]+)$",
    re.I,
)
SAS_MINUTES = 10


def host_keys_from_log(text: str) -> tuple[str, ...]:
    """Host public keys from the last ``SSH HOST KEY KEYS`` block cloud-init printed (a
    serial log can hold several boots; the last one is the current host)."""
    blocks = HOST_KEYS.findall(text.replace("\r", ""))
    if not blocks:
        return ()
    return tuple(m.group(1) for line in blocks[-1].splitlines() if (m := KEY_LINE.search(line)))


def _serial_log(client: Any, group: str, vm: str) -> str:
    import requests

    with azure_errors(f"reading the boot diagnostics of {vm}"):
        data = client.virtual_machines.retrieve_boot_diagnostics_data(
            group,
            vm,
            sas_uri_expiration_time_in_minutes=SAS_MINUTES,
            api_version=lookups.API_VERSIONS["compute"],
        )
    uri = data.serial_console_log_blob_uri
    if not uri:
        return ""
    try:
        response = requests.get(uri, timeout=30)
    except requests.RequestException as exc:
        raise CmlinfraError(
            f"cannot download the serial log of {vm} ({type(exc).__name__})",
            "check the network; the log is served by Azure Storage",
        ) from None
    if response.status_code == 404:  # not written yet: the VM is still booting
        return ""
    if response.status_code != 200:
        raise CmlinfraError(
            f"Azure Storage answered {response.status_code} for the serial log of {vm}",
            "run the command again; boot diagnostics must be enabled on the VM",
        )
    return response.content.decode(errors="replace")


def serial_host_keys(vm_id: str, wait_s: float) -> tuple[str, ...]:
    """Poll the VM's serial log until cloud-init has printed the host keys or ``wait_s``
    passes (an empty result: the caller refuses to connect)."""
    match = VM_ID.match(vm_id)
    if not match:
        raise CmlinfraError(f"{vm_id!r} is not a VM resource id", "re-apply the stack")
    client = lookups.compute(match["sub"])
    group, vm = match["rg"], match["vm"]

    def read() -> tuple[str, ...] | None:
        return host_keys_from_log(_serial_log(client, group, vm)) or None

    return poll_api(read, wait_s) or ()
