"""The ssh cloud: a machine that already exists (a workstation, an on-prem GPU box).

Nothing is created; the ``ssh/host`` module only records the address so the rest of cmlinfra
treats it like any other stack. The host key must be given (from an inventory you trust):
without it the first connection would have to trust whatever answers.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Any

from cmlinfra.clouds import validate
from cmlinfra.clouds.base import (
    CloudInfo,
    ErrorKind,
    ImageStore,
    Inventory,
    MachineAddress,
    MachineRequest,
    ResolvedMachine,
    StackSpec,
    SweepScope,
)
from cmlinfra.clouds.modules import module_path
from cmlinfra.clouds.ssh import INFO, errors
from cmlinfra.errors import UsageError

OUTPUTS = ("address", "instance_id", "ssh_user", "ssh_port", "host_key")
KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ssh-rsa")
# A DNS name (labels of letters, digits, '-', '_' as /etc/hosts allows) or an IP address;
# an SSH user as useradd accepts it. Nothing else can reach Terraform or ssh_config.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


def _host_key(line: str | None) -> str:
    parts = (line or "").split()
    if len(parts) < 2 or parts[0] not in KEY_TYPES or not _base64(parts[1]):
        raise UsageError(
            "the ssh cloud needs the machine's host key (--host-key 'ssh-ed25519 AAAA…')",
            "copy it from /etc/ssh/ssh_host_ed25519_key.pub on the machine",
        )
    return f"{parts[0]} {parts[1]}"


def _base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise UsageError(
            f"--host {host!r} is not a host name or IP address",
            "give the machine's DNS name or address, e.g. --host gpu1.example.com",
        )
    return host


class SshCloud:
    name = INFO.name
    info: CloudInfo = INFO

    def check_reachable(self) -> None:
        """Nothing to ask before apply: the machine itself is checked when bootstrapping."""

    def validate(self, request: MachineRequest) -> str:
        """Every check (nothing here needs a network): the name, host, user, port and host
        key; returns the host key line it must present."""
        validate.stack_name(request.name)
        validate.labels(request.metadata)
        if not request.host:
            raise UsageError(
                "the ssh cloud needs --host", "give the machine's address: --host HOST"
            )
        _host(request.host)
        if request.user is not None and not _USER.fullmatch(request.user):
            raise UsageError(
                f"--user {request.user!r} is not a user name",
                "give the SSH login, e.g. --user ubuntu",
            )
        if not 0 < request.port < 65536:
            raise UsageError(f"--port {request.port} is not a TCP port", "use 1-65535")
        for option, value in (
            ("--cloud-gpu", request.gpu),
            ("--cloud-hdd-size", request.hdd_size_gb),
            ("--cloud-spot", request.spot),
            ("--cloud-spot-price", request.spot_price),
            ("--cloud-image", request.image),
            ("--cloud-permission-set", request.permission_set),
            ("--max-ttl", request.max_ttl_seconds),
        ):
            validate.unsupported("ssh", option, value)
        if request.region not in (None, "", "local"):
            validate.unsupported("ssh", "--cloud-region", request.region)
        return _host_key(request.host_key)

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        host_key = self.validate(request)
        return ResolvedMachine(
            request=request,
            cloud=self.name,
            instance_type="existing",
            region="local",
            gpu=None,
            gpu_count=0,
            vcpus=None,
            memory_gib=None,
            hourly_price=None,
            image=None,
            extra={"host_key": host_key},
        )

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        request = machine.request
        variables: dict[str, Any] = {
            "host": request.host,
            "user": request.user or "root",
            "port": request.port,
            "host_key": machine.extra["host_key"],
        }
        return StackSpec(
            name=request.name,
            cloud=self.name,
            modules={"host": (module_path("ssh", "host"), variables)},
            providers={},
            required_providers={},
            outputs={name: f"module.host.{name}" for name in OUTPUTS},
        )

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        host_key = str(outputs.get("host_key") or "")
        return MachineAddress(
            host=str(outputs["address"]),
            port=int(outputs["ssh_port"]),
            user=str(outputs["ssh_user"]),
            instance_id=str(outputs["instance_id"]),
            host_keys=(host_key,) if host_key else (),
        )

    def inventory(self, scope: SweepScope) -> Inventory | None:
        """None: the machine is the user's own, never gc's to delete."""
        return None

    def images(self, region: str | None = None) -> ImageStore | None:
        return None

    def cost_note(self, machine: ResolvedMachine) -> str:
        return "an existing machine: its cost is not cmlinfra's to know"

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        return errors.classify_error(error)
