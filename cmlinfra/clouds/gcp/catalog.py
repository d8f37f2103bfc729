"""CML's machine vocabulary on Google Cloud: sizes, GPUs, zones, labels, prices; no network.

Everything here runs before any API call, so a typo, a GPU on a machine family that cannot take
it or a retired GPU fails in milliseconds. The size table follows CML
(iterative/terraform-provider-iterative's GCP tables): ``m``/``l``/``xl`` are
e2-custom-8-32768/e2-custom-32-131072/n2-custom-64-262144, ``+t4`` one T4 on n1-standard-4,
``+k80``/``+v100`` N1 custom types with 1/4/8 GPUs, and the regions are its zones
(``us-west`` → us-west1-b). We add the GPUs Google offers today: L4 (g2-standard-*), A100
(a2-highgpu-*, 80 GB a2-ultragpu-*), H100 (a3-highgpu-*), and ``l``/``xl`` rows for T4. TPI's
``MACHINE+ACCELERATOR*COUNT`` spelling is accepted for raw types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from cmlinfra.clouds import catalogs
from cmlinfra.clouds.catalogs import SIZES
from cmlinfra.errors import UsageError

GPU_ALIASES = {
    "tesla": "v100",
    "a100-40gb": "a100",
    "a100-80": "a100-80gb",
    "h100-80gb": "h100",
    "nogpu": None,
    "none": None,
    "": None,
}
# (size, gpu) -> (machine type, accelerator attached to it, count); builtin GPUs attach nothing.
TYPES: dict[tuple[str, str | None], tuple[str, str | None, int]] = {
    ("s", None): ("g1-small", None, 0),
    ("m", None): ("e2-custom-8-32768", None, 0),
    ("l", None): ("e2-custom-32-131072", None, 0),
    ("xl", None): ("n2-custom-64-262144", None, 0),
    ("m", "k80"): ("custom-8-53248", "nvidia-tesla-k80", 1),
    ("l", "k80"): ("custom-32-131072", "nvidia-tesla-k80", 4),
    ("xl", "k80"): ("custom-64-212992-ext", "nvidia-tesla-k80", 8),
    ("m", "v100"): ("custom-8-65536-ext", "nvidia-tesla-v100", 1),
    ("l", "v100"): ("custom-32-262144-ext", "nvidia-tesla-v100", 4),
    ("xl", "v100"): ("custom-64-524288-ext", "nvidia-tesla-v100", 8),
    ("m", "t4"): ("n1-standard-4", "nvidia-tesla-t4", 1),
    ("l", "t4"): ("n1-standard-16", "nvidia-tesla-t4", 2),
    ("xl", "t4"): ("n1-standard-32", "nvidia-tesla-t4", 4),
    ("m", "l4"): ("g2-standard-8", None, 0),
    ("l", "l4"): ("g2-standard-48", None, 0),
    ("xl", "l4"): ("g2-standard-96", None, 0),
    ("m", "a100"): ("a2-highgpu-1g", None, 0),
    ("l", "a100"): ("a2-highgpu-4g", None, 0),
    ("xl", "a100"): ("a2-highgpu-8g", None, 0),
    ("m", "a100-80gb"): ("a2-ultragpu-1g", None, 0),
    ("l", "a100-80gb"): ("a2-ultragpu-4g", None, 0),
    ("xl", "a100-80gb"): ("a2-ultragpu-8g", None, 0),
    ("m", "h100"): ("a3-highgpu-1g", None, 0),
    ("l", "h100"): ("a3-highgpu-4g", None, 0),
    ("xl", "h100"): ("a3-highgpu-8g", None, 0),
}
RAW_TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+\Z")
TPI_TYPE = re.compile(r"^([^+]+)\+([^*]+)\*([1-9]\d*)\Z")
CUSTOM = re.compile(r"^(?:(e2|n1|n2)-)?custom-(\d+)-(\d+)(-ext)?\Z")


@dataclass(frozen=True)
class MachineSpec:
    """A machine type, the GPUs attached to it (N1) or built into it (a2/a3/g2), and its price."""

    machine_type: str
    accelerator: str | None  # attached accelerator type (N1 only); None for built-in GPUs
    accelerator_count: int
    gpu: str | None  # the GPU the machine has, attached or built in: nvidia-tesla-t4, nvidia-l4
    gpu_count: int
    vcpus: int | None
    memory_gib: float | None
    hourly_price: float | None  # on-demand, us-central1, machine plus attached GPUs
    size: str | None  # the CML size it came from; None for a raw type

    @property
    def gpu_name(self) -> str | None:
        """The GPU in CML's words (t4, l4, a100), or None."""
        return gpu_table()[self.gpu]["name"] if self.gpu else None


@cache
def price_table() -> dict[str, Any]:
    """The committed price and shape snapshot (data/machine-types.json) with its date."""
    return catalogs.load_json(__package__, "data/machine-types.json")


def gpu_table() -> dict[str, dict[str, Any]]:
    return price_table()["gpus"]


def gpu_names() -> list[str]:
    return [g["name"] for g in gpu_table().values()]


def normalize_gpu(gpu: str | None) -> str | None:
    """``--cloud-gpu`` (``t4``, ``tesla``, ``nvidia-l4``…) → accelerator type, or None."""
    if gpu is None:
        return None
    key = gpu.strip().lower()
    if key in GPU_ALIASES:
        key = GPU_ALIASES[key] or ""
        if not key:
            return None
    if key in gpu_table():
        return key
    by_name = {g["name"]: accel for accel, g in gpu_table().items()}
    if key not in by_name:
        raise UsageError(
            f"unknown GPU {gpu!r}",
            f"{catalogs.suggest(key, gpu_names())}choose one of {', '.join(gpu_names())} or nogpu",
        )
    return by_name[key]


def family(machine_type: str) -> str:
    """``n1-standard-4`` → n1; N1 custom types are spelled ``custom-…``."""
    head = machine_type.split("-", 1)[0]
    return "n1" if head == "custom" else head


def builtin_gpu(machine_type: str) -> tuple[str, int] | None:
    """(accelerator, count) built into an a2/a3/g2 type; None for every other type."""
    known = price_table()["types"].get(machine_type)
    if known and known.get("gpu"):
        return known["gpu"], known["gpu_count"]
    for accel, info in gpu_table().items():
        if info.get("builtin") and machine_type.startswith(f"{info['builtin']}-"):
            match = re.search(r"-(\d+)g$", machine_type)
            return accel, int(match.group(1)) if match else 1
    return None


def _shape(machine_type: str) -> tuple[int | None, float | None, float | None]:
    """(vCPUs, memory GiB, on-demand price) from the table, or computed for custom types."""
    known = price_table()["types"].get(machine_type)
    if known:
        return known["vcpus"], known["memory_gib"], known["price"]
    match = CUSTOM.match(machine_type)
    if not match:
        return None, None, None  # looked up in the Compute API later
    fam, vcpus, memory_mb = match.group(1) or "n1", int(match.group(2)), int(match.group(3))
    memory = memory_mb / 1024
    rates = price_table()["rates"][fam]
    standard = min(memory, vcpus * rates["max_memory_per_vcpu_gib"])
    extended = memory - standard
    if extended and not match.group(4):
        raise UsageError(
            f"{machine_type} has more than {rates['max_memory_per_vcpu_gib']} GB per vCPU",
            f"add -ext (extended memory), e.g. {machine_type}-ext",
        )
    price = vcpus * rates["vcpu"] + standard * rates["memory_gib"]
    price += extended * rates.get("extended_memory_gib", rates["memory_gib"])
    return vcpus, memory, round(price, 6)


def _parse(text: str, wanted_gpu: str | None, cloud_type: str, gpu: str | None) -> tuple:
    """``--cloud-type`` (+ ``--cloud-gpu``) → (machine type, attached accel, count, size)."""
    if match := TPI_TYPE.match(text):
        if wanted_gpu is not None:
            raise UsageError(f"--cloud-type {cloud_type} already names its GPU", "drop --cloud-gpu")
        return match.group(1), normalize_gpu(match.group(2)), int(match.group(3)), None
    size, plus, wanted_gpu = catalogs.split_type(text, cloud_type, gpu, wanted_gpu, normalize_gpu)
    if size in SIZES:
        name = gpu_table()[wanted_gpu]["name"] if wanted_gpu else None
        entry = catalogs.sized_type(size, name, TYPES, "Google Cloud", "raw machine type")
        return (*entry, size)
    if plus or not RAW_TYPE.match(text):
        raise catalogs.unknown_type(
            cloud_type,
            size,
            gpu_names(),
            ", a machine type such as g2-standard-8, or n1-standard-8+nvidia-tesla-t4*2",
        )
    # TPI: a raw type with --cloud-gpu gets one of that GPU attached
    return text, wanted_gpu, 1 if wanted_gpu else 0, None


def machine_spec(cloud_type: str, gpu: str | None = None, spot: bool = False) -> MachineSpec:
    """Resolve ``--cloud-type``/``--cloud-gpu`` and check the combination can exist: attached
    GPUs only on N1, built-in GPUs only through their own machine types, allowed counts."""
    text = cloud_type.strip().lower()
    machine, accel, count, size = _parse(text, normalize_gpu(gpu), cloud_type, gpu)
    builtin = builtin_gpu(machine)
    if accel is not None:
        info = gpu_table()[accel]
        if info.get("retired"):
            raise UsageError(
                f"{info['name']} is no longer offered: {info['retired']}",
                "use +t4 (or +l4, +v100, +a100)",
            )
        if info.get("builtin"):
            raise UsageError(
                f"{accel} cannot be attached to {machine}: it comes built into "
                f"{info['builtin']}-* machine types",
                f"use --cloud-type m+{info['name']} or a machine type {info['builtin']}-*",
            )
        if builtin is not None:
            raise UsageError(
                f"{machine} comes with its own {builtin[0]}; it cannot take {accel} too",
                "drop --cloud-gpu (or the +GPU part)",
            )
        if family(machine) != info["attach"]:
            raise UsageError(
                f"{machine} cannot take attached GPUs: only N1 machine types can ({accel})",
                f"use an N1 type such as n1-standard-8+{accel}*1, or g2-standard-* (L4), "
                "a2-* (A100) or a3-* (H100)",
            )
        if count not in info["counts"]:
            raise UsageError(
                f"{count} x {accel} is not a shape Google offers",
                f"attach {', '.join(map(str, info['counts']))} of them",
            )
    known = price_table()["types"].get(machine, {})
    if known.get("spot_only") and not spot:
        raise UsageError(
            f"{machine} is offered only as a Spot (or flex-start) VM",
            "add --cloud-spot, or use xl+h100 (a3-highgpu-8g) on demand",
        )
    vcpus, memory, price = _shape(machine)
    if price is not None and accel is not None:
        price = round(price + count * gpu_table()[accel]["price"], 6)
    gpu_type, gpu_count = (accel, count) if accel else builtin or (None, 0)
    return MachineSpec(machine, accel, count, gpu_type, gpu_count, vcpus, memory, price, size)
