"""The seam between cmlinfra and a cloud: what flows across it, and the protocols a cloud's
package (``cmlinfra/clouds/<name>/``) implements.

Everything that differs between clouds is answered here, by the cloud, so ``runner``,
``stack``, ``report``, ``bootstrap`` and ``cli`` never name one:

- :class:`CloudInfo` — what the registry knows *without loading the cloud* (``info.py``, re-
  exported here; cheap, so ``--help`` stays fast): name, aliases, :class:`Capabilities`, its
  own :class:`CloudOption`\\ s.
- :class:`Cloud` — catalog and offline validation, the stack spec, reachability, the address
  and trusted host keys, the plan's cost note, error classification; and two small protocols
  it hands out: :class:`Inventory` (machines carrying cmlinfra's tags, for ``gc``) and
  :class:`ImageStore` (baked images).

docs/adding-a-cloud.md says what each method must guarantee; tests/clouds/contract/ checks it
for every cloud.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cmlinfra.clouds.info import CONTAINER_INIT as CONTAINER_INIT
from cmlinfra.clouds.info import POWER_OFF as POWER_OFF  # re-exported: the seam in one place
from cmlinfra.clouds.info import Capabilities as Capabilities
from cmlinfra.clouds.info import CloudInfo as CloudInfo
from cmlinfra.clouds.info import CloudOption as CloudOption
from cmlinfra.clouds.info import Interruption as Interruption

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
    host: str | None = None  # an existing machine (a cloud that creates none)
    port: int = 22
    user: str | None = None
    host_key: str | None = None  # the OpenSSH public host key an existing machine must present
    # the cloud's own options (CloudOption.flag -> value, e.g. "--cloud-aws-subnet"): only
    # options the chosen cloud declares are accepted, and that cloud validates their values
    options: dict[str, str] = field(default_factory=dict)


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
    hourly_price: float | None  # USD; None when unknown (an existing machine)
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


class ErrorKind(StrEnum):
    """What an error of a cloud's API or of Terraform means for whoever retries."""

    CAPACITY = "capacity"  # no room for this type here now: another zone, type or later
    QUOTA = "quota"  # the account's limit: retrying the same request will not help
    SPOT_PRICE = "spot_price"  # the spot cap is below the market: raise it or go on-demand
    AUTH = "auth"  # credentials missing, expired or not allowed: no retry helps
    BAD_REQUEST = "bad_request"  # the request itself is wrong: fix it
    TRANSIENT = "transient"  # throttling or a blip: retry in place
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Machine:
    """A machine carrying cmlinfra's tags, as the cloud's own API reports it (no state)."""

    cloud: str
    id: str  # EC2 instance id, LXD container name
    stack: str  # the runner / stack name that owns it
    region: str = ""
    state: str = ""
    expires: float | None = None  # epoch; None: no expiry tag
    role: str = ""  # runner | stack | image-builder (cmlinfra.clouds.tags); "" when untagged

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (now or time.time()) >= self.expires


@dataclass(frozen=True)
class SweepScope:
    """Where ``gc`` asks a cloud to look; the cloud decides its regions/zones from these and
    its own environment (AWS adds ``$AWS_REGION``; a cloud without regions ignores them)."""

    regions: tuple[str, ...] = ()  # gc --region
    record_regions: tuple[str, ...] = ()  # the regions of this cloud's records in the registry


class Inventory(Protocol):
    """cmlinfra's machines on one cloud, through its API: what ``gc`` compares with the
    registry. Never needs Terraform or its state."""

    cloud: str

    def machines(self) -> list[Machine]:
        """Every machine carrying cmlinfra's stack tag in the scope (any state but gone)."""
        ...

    def delete(self, machine: Machine) -> None:
        """Delete it and what was created with it (AWS: its key pair). Idempotent: a machine
        already gone is not an error."""
        ...


@dataclass(frozen=True)
class Image:
    """A runner image cmlinfra baked (``image list``)."""

    cloud: str
    id: str
    name: str
    created: str  # ISO 8601, to the second
    base: str = ""  # the image it was baked from
    steps: str = ""  # the bootstrap steps baked in, comma-separated
    details: dict[str, Any] = field(default_factory=dict)  # the cloud's own columns

    def to_dict(self) -> dict[str, Any]:
        row = {"cloud": self.cloud, "id": self.id, "name": self.name, "created": self.created}
        return {**row, **self.details, "base": self.base, "steps": self.steps}


class ImageStore(Protocol):
    """Baked images on one cloud (and region)."""

    cloud: str

    def check_free(self, name: str, *, replace: bool = False) -> None:
        """Raise ``UsageError`` when ``name`` is taken (and cannot be replaced): checked
        before a builder machine is paid for."""
        ...

    def publish(
        self, instance_id: str, name: str, properties: dict[str, str], *, replace: bool = False
    ) -> str:
        """Publish the cleaned builder machine as image ``name`` carrying ``properties`` (the
        cloud's tags/labels/properties), wait until it is usable, return its id."""
        ...

    def list_images(self) -> list[Image]:
        """cmlinfra's images, oldest first."""
        ...

    def delete(self, image_id: str) -> None:
        """Delete the image (and its snapshots). Idempotent."""
        ...


@runtime_checkable
class Cloud(Protocol):
    """One cloud behind one interface. Optional: ``prepare_destroy(resources) -> [address]``,
    called with the state's resources before ``terraform destroy``; it returns the addresses
    of resources already gone (the caller forgets them)."""

    name: str
    info: CloudInfo

    def validate(self, request: MachineRequest) -> object:
        """The checks that need neither credentials nor the cloud's API (size, region, labels,
        the cloud's own options): a typo is reported as such even when the cloud is down.
        Raise ``UsageError`` (one line: problem; fix)."""
        ...

    def resolve(self, request: MachineRequest) -> ResolvedMachine:
        """Validate the request against the catalog and the cloud's API; raise ``UsageError``
        before creating anything when the size, region, GPU, price or metadata cannot work."""
        ...

    def stack(self, machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
        """The Terraform modules, providers and outputs that build this machine, tagged for
        gc (stack name, expiry, role). No secret in variables or user-data."""
        ...

    def check_reachable(self) -> None:
        """Raise ``CmlinfraError`` with a fix when the cloud's API cannot be reached."""
        ...

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        """The machine's address, SSH user and expected host keys after apply, read from the
        stack's outputs and, for the host key, a channel the network cannot forge."""
        ...

    def inventory(self, scope: SweepScope) -> Inventory | None:
        """Its tagged machines in ``scope``; None when it has none to sweep (an existing
        machine is the user's own)."""
        ...

    def images(self, region: str | None = None) -> ImageStore | None:
        """Its baked images (in ``region``, or the cloud's default); None: it bakes none."""
        ...

    def cost_note(self, machine: ResolvedMachine) -> str:
        """Where the hourly figure comes from, in words, for plan review."""
        ...

    def classify_error(self, error: BaseException | str) -> ErrorKind:
        """What an error of its API or of Terraform (text or exception) means for a retry."""
        ...
