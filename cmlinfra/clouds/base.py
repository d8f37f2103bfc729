"""What flows between the CLI, a cloud, the stack composer and the bootstrap.

A cloud answers two questions behind one Protocol: *what machine is this request* (catalog:
sizes, GPUs, regions, prices, validated before anything is created) and *which Terraform module
with which variables builds it* (a :class:`StackSpec`). Adding a cloud is one module in
``cmlinfra/clouds/<name>/`` plus its Terraform module; nothing else changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

_REFERENCE = re.compile(r"module\.[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Ref:
    """A Terraform reference to another module's output (``Ref("module.network.subnet_id")``),
    the only thing in a module variable that the composer writes as an expression. Every
    plain string is written literally (``${`` and ``%{`` escaped): user values (a host, a
    label, a tag) can never become Terraform code."""

    expression: str

    def __post_init__(self) -> None:
        if not _REFERENCE.fullmatch(self.expression):
            raise ValueError(f"{self.expression!r} is not module.<label>.<output>")


@dataclass(frozen=True)
class MachineRequest:
    """What the user asked for, in CML's vocabulary (``--cloud-*`` options)."""

    name: str
    cloud_type: str = "m"
    gpu: str | None = None
    region: str | None = None
    hdd_size_gb: int | None = None
    spot: bool = False
    spot_price: float | None = None  # None: on-demand price cap; only with spot
    image: str | None = None
    permission_set: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    ssh_cidr: str | None = None  # who may reach SSH; None: the launcher's own address /32
    allow_world_ssh: bool = False  # --allow-world-ssh: SSH from anywhere, explicitly
    max_ttl_seconds: int | None = None  # hard power-off armed at boot
    ephemeral: bool = True  # deleted when powered off, where the cloud supports it
    host: str | None = None  # ssh cloud: the existing machine
    port: int = 22
    user: str | None = None
    host_key: str | None = None  # ssh cloud: the OpenSSH public host key the machine must present
    aws_subnet: str | None = None  # aws: CML's --cloud-aws-subnet; None: $CMLINFRA_AWS_SUBNET_ID
    aws_security_group: str | None = None  # aws: an existing group instead of the stack's own


@dataclass(frozen=True)
class ResolvedMachine:
    """A request checked against the catalog: concrete type, region, image and price."""

    request: MachineRequest
    cloud: str
    instance_type: str
    region: str
    gpu: str | None
    gpu_count: int
    vcpus: int | None
    memory_gib: float | None
    hourly_price: float | None  # USD; None when unknown (lxd, ssh)
    image: str | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StackSpec:
    """Everything the composer needs to synthesize one runner's Terraform configuration."""

    name: str
    cloud: str
    # label -> (module dir, variables); strings are literal, a Ref is another module's output
    modules: dict[str, tuple[Path, dict[str, Any]]]
    providers: dict[str, dict[str, Any]]  # provider name -> provider block
    required_providers: dict[str, dict[str, str]]  # name -> {"source": ..., "version": ...}
    outputs: dict[str, str]  # output name -> expression like "module.runner.address"
    sensitive_outputs: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MachineAddress:
    """How to reach a machine once the stack is applied (read from terraform outputs)."""

    host: str
    port: int
    user: str
    instance_id: str
    host_keys: tuple[str, ...] = ()  # OpenSSH public key lines the host must present


@runtime_checkable
class Cloud(Protocol):
    """One cloud behind one interface.

    Optional: ``validate(request)``, the checks that need neither credentials nor the cloud's
    API; ``stack`` runs it before ``check_reachable`` so a typo is not reported as an outage."""

    name: str

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        """Validate the request against the catalog; raise ``UsageError`` before creating
        anything when the size, region, GPU, price or metadata cannot work."""
        ...

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        """The Terraform modules, providers and outputs that build this machine."""
        ...

    def check_reachable(self) -> None:
        """Raise ``CmlinfraError`` with a fix when the cloud's API cannot be reached."""
        ...

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """The machine's address, SSH user and expected host keys after apply, read from the
        stack's outputs and, where the cloud offers a trusted channel for it, the host key."""
        ...
