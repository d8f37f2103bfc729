"""CML's machine vocabulary on Azure: sizes, GPUs, locations, images, prices; no network.

Everything here runs before any credential is read, so a typo in ``--cloud-type`` or
``--cloud-region`` fails in milliseconds. The size and region tables are exactly those of
terraform-provider-iterative (what ``cml runner launch --cloud azure`` uses): ``m``/``l``/``xl``
are the F-series v2, ``+k80`` the NC family, ``+v100`` NCv3, ``m+t4`` NCasT4_v3, and
``us-east``/``us-west``/``eu-north``/``eu-west`` are eastus/westus2/northeurope/westeurope.
Azure has since retired the K80 and V100 series; those aliases still resolve (a CML workflow
keeps its meaning) and the resource SKUs API then refuses them with a hint (lookups.py).
Our additions, for current GPUs: ``l+t4``, ``+a10`` (NVadsA10 v5), ``+a100`` (NC A100 v4) and
``+h100`` (NC H100 v5, ``xl``: ND H100 v5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from cmlinfra.clouds import catalogs
from cmlinfra.clouds.catalogs import DEFAULT_REGION, SIZES
from cmlinfra.errors import UsageError

GPUS = ("k80", "t4", "v100", "a10", "a100", "h100")
TYPES: dict[tuple[str, str | None], str] = {
    # terraform-provider-iterative's table, unchanged
    ("s", None): "Standard_B1s",
    ("m", None): "Standard_F8s_v2",
    ("l", None): "Standard_F32s_v2",
    ("xl", None): "Standard_F64s_v2",
    ("m", "t4"): "Standard_NC4as_T4_v3",
    ("m", "k80"): "Standard_NC6",
    ("l", "k80"): "Standard_NC12",
    ("xl", "k80"): "Standard_NC24",
    ("m", "v100"): "Standard_NC6s_v3",
    ("l", "v100"): "Standard_NC12s_v3",
    ("xl", "v100"): "Standard_NC24s_v3",
    # ours: current GPU series
    ("l", "t4"): "Standard_NC64as_T4_v3",
    ("m", "a10"): "Standard_NV36ads_A10_v5",
    ("l", "a10"): "Standard_NV72ads_A10_v5",
    ("m", "a100"): "Standard_NC24ads_A100_v4",
    ("l", "a100"): "Standard_NC48ads_A100_v4",
    ("xl", "a100"): "Standard_NC96ads_A100_v4",
    ("m", "h100"): "Standard_NC40ads_H100_v5",
    ("l", "h100"): "Standard_NC80adis_H100_v5",
    ("xl", "h100"): "Standard_ND96isr_H100_v5",
}
REGION_ALIASES = {
    "us-east": "eastus",
    "us-west": "westus2",
    "eu-north": "northeurope",
    "eu-west": "westeurope",
}
MAX_HDD_GB = 4095  # largest managed OS disk
RAW_SIZE = re.compile(r"^(standard|basic)_[a-z0-9_]+\Z", re.I)
# --cloud-image aliases: (publisher, offer, sku, version, smallest OS disk in GB); all Gen2
IMAGES = {
    "ubuntu-22.04": ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest", 30),
    "ubuntu-24.04": ("Canonical", "ubuntu-24_04-lts", "server", "latest", 30),
    # Microsoft's Ubuntu HPC image: NVIDIA driver, CUDA and InfiniBand drivers preinstalled
    "nvidia": ("microsoft-dsvm", "ubuntu-hpc", "2204", "latest", 64),
}
DEFAULT_USER = "ubuntu"  # TPI's login user on Azure (admin_username)
URN = re.compile(
    r"^(?:(?P<user>[a-z_][a-z0-9_-]{0,31})@)?(?P<publisher>[\w.-]+):(?P<offer>[\w.-]+):"
    r"(?P<sku>[\w.-]+):(?P<version>[\w.-]+)$"
)
IMAGE_ID = re.compile(
    r"^/subscriptions/[0-9a-f-]{36}/resourceGroups/[\w().-]+/providers/Microsoft\.Compute/"
    r"(images/[\w.-]+|galleries/\w[\w.]*/images/[\w.-]+(/versions/[\w.-]+)?)$",
    re.I,
)


@dataclass(frozen=True)
class SizeSpec:
    """A concrete VM size with what we know of it offline."""

    vm_size: str
    gpu: str | None
    gpu_count: int
    vcpus: int | None
    memory_gib: float | None
    hourly_price: float | None  # pay-as-you-go, eastus, from the committed table
    size: str | None  # the CML size it came from; None for a raw VM size
    retired: str | None = None  # the date Azure retired the series, when it has


@dataclass(frozen=True)
class ImageChoice:
    """``--cloud-image`` parsed: a marketplace URN or the ARM id of an image of ours."""

    user: str
    urn: tuple[str, str, str, str] | None = None  # publisher, offer, sku, version
    image_id: str | None = None
    min_disk_gb: int = 30
    generation: str | None = None  # Hyper-V generation when known (the aliases: V2)


@cache
def names() -> dict[str, Any]:
    """Azure's locations and the admin user names it refuses (data/names.json)."""
    return catalogs.load_json(__package__, "data/names.json")


@cache
def price_table() -> dict[str, Any]:
    """The committed size table (data/vm-sizes.json) with its date and source."""
    return catalogs.load_json(__package__, "data/vm-sizes.json")


def normalize_gpu(gpu: str | None) -> str | None:
    """``--cloud-gpu`` value → canonical GPU name or None (``nogpu``)."""
    return catalogs.normalize_gpu(gpu, GPUS)


def _known(vm_size: str, size: str | None) -> SizeSpec:
    sizes = price_table()["sizes"]
    canonical = next((k for k in sizes if k.lower() == vm_size.lower()), None)
    if canonical is None:  # checked against the resource SKUs API later (lookups.sku)
        return SizeSpec(vm_size, None, 0, None, None, None, size)
    known = sizes[canonical]
    return SizeSpec(
        canonical,
        known["gpu"],
        known["gpu_count"],
        known["vcpus"],
        known["memory_gib"],
        known["price"],
        size,
        known.get("retired"),
    )


def size_spec(cloud_type: str, gpu: str | None = None) -> SizeSpec:
    """``--cloud-type`` (``m``, ``l+t4``, or a raw size like ``Standard_NC4as_T4_v3``) and
    ``--cloud-gpu`` → a VM size, or a one-line UsageError."""
    text = cloud_type.strip()
    size, plus, wanted_gpu = catalogs.split_type(
        text.lower(), cloud_type, gpu, normalize_gpu(gpu), normalize_gpu
    )
    if size in SIZES:
        return _known(catalogs.sized_type(size, wanted_gpu, TYPES, "Azure", "raw VM size"), size)
    if plus or not RAW_SIZE.match(text):
        raise catalogs.unknown_type(
            cloud_type, size, GPUS, " or an Azure VM size such as Standard_NC4as_T4_v3"
        )
    if wanted_gpu is not None:
        raise UsageError(
            f"--cloud-gpu {gpu} cannot be combined with the VM size {cloud_type}",
            "the VM size already decides the GPU; drop --cloud-gpu",
        )
    return _known(text, None)


def location(region: str | None) -> str:
    """CML alias (``us-west``) or Azure location (``westus2``, ``West US 2``) → location."""
    value = re.sub(r"\s+", "", (region or DEFAULT_REGION).strip().lower())
    return catalogs.resolve_region(
        value,
        region,
        REGION_ALIASES,
        frozenset(names()["locations"]),
        "Azure location",
        "an Azure location such as swedencentral",
    )


def hdd_size(size_gb: int | None, minimum: int = 30) -> int:
    """``--cloud-hdd-size`` in GB (CML default 35; never below what the image needs)."""
    return catalogs.hdd_size(size_gb, minimum, MAX_HDD_GB, " for this image")


def image_choice(image: str | None, gpu: str | None, user: str | None = None) -> ImageChoice:
    """``--cloud-image`` → marketplace URN (``[user@]publisher:offer:sku:version``, TPI's
    form), an alias (ubuntu-22.04, ubuntu-24.04, nvidia), or the ARM id of a managed image or
    gallery image (version). Default: the NVIDIA image for GPU sizes, Ubuntu 22.04 otherwise."""
    text = (image or ("nvidia" if gpu else "ubuntu-22.04")).strip()
    login = user
    if text in IMAGES:
        publisher, offer, sku, version, disk = IMAGES[text]
        urn = (publisher, offer, sku, version)
        return ImageChoice(_user(login or DEFAULT_USER), urn, None, disk, "V2")
    if text.startswith("/"):
        if not IMAGE_ID.match(text):
            raise UsageError(
                f"--cloud-image {image!r} is not the id of a managed or gallery image",
                "give /subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/images/"
                "NAME (or .../galleries/G/images/I[/versions/V])",
            )
        return ImageChoice(_user(login or DEFAULT_USER), None, text)
    match = URN.match(text)
    if not match:
        raise UsageError(
            f"--cloud-image {image!r} is not an Azure image",
            "give [user@]publisher:offer:sku:version, ubuntu-22.04, ubuntu-24.04, nvidia, or a "
            "managed image id",
        )
    urn = (match["publisher"], match["offer"], match["sku"], match["version"])
    return ImageChoice(_user(login or match["user"] or DEFAULT_USER), urn)


def _user(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name) or name in names()["reserved_users"]:
        raise UsageError(
            f"{name!r} cannot be the login user of an Azure VM",
            "use lowercase letters, digits, '-' or '_' and not a reserved name (admin, root…)",
        )
    return name


AZURE_TAG_FORBIDDEN = set("<>%&\\?/")


def tags(metadata: dict[str, str]) -> dict[str, str]:
    """``--cloud-metadata key=value`` → Azure tags, checked against Azure's tag rules."""
    for key, value in metadata.items():
        if not key or len(key) > 512 or AZURE_TAG_FORBIDDEN & set(key):
            raise UsageError(
                f"--cloud-metadata key {key!r} is not a valid Azure tag name",
                "use up to 512 characters without < > % & \\ ? /",
            )
        if key.lower().startswith(("microsoft", "azure", "windows")):
            raise UsageError(
                f"--cloud-metadata key {key!r} uses a prefix Azure reserves",
                "do not start tag names with microsoft, azure or windows",
            )
        if len(value) > 256:
            raise UsageError(
                f"--cloud-metadata value of {key!r} is longer than 256 characters", "shorten it"
            )
    if len(metadata) > 45:  # 50 per resource; cmlinfra adds its own
        raise UsageError("too many --cloud-metadata tags", "give at most 45")
    return dict(metadata)


def max_bid(spot: bool, spot_price: float | None) -> float | None:
    """Azure's ``max_bid_price``: None for on-demand, -1 (up to the pay-as-you-go price, CML's
    ``--cloud-spot-price -1``) or a positive USD/hour cap with at most 5 decimals."""
    if not spot:
        return None
    if spot_price is None or spot_price == -1:
        return -1.0
    if spot_price <= 0:
        raise UsageError(
            f"--cloud-spot-price {spot_price} must be a positive price",
            "give USD per hour, e.g. 0.35, or -1 for up to the pay-as-you-go price",
        )
    return round(spot_price, 5)
