"""CML's machine vocabulary on AWS: sizes, GPUs, regions, prices; no network.

Everything here runs before any API call, so that a typo in ``--cloud-type`` or
``--cloud-region`` fails in milliseconds with a one-line error instead of after a Terraform
init. The size table follows CML (iterative/terraform-provider-iterative): ``m``/``l``/``xl``
are m5.2xlarge/m5.8xlarge/m5.16xlarge, ``+k80`` the p2 family, ``+v100`` the p3 family, ``+t4``
g4dn. We add ``s`` (t2.micro, CPU only), ``+a10g`` (g5) and ``+a100`` (p4d.24xlarge, ``xl`` only:
AWS has no smaller A100 machine). CML maps ``m+v100`` to ``p3.xlarge``, a type that does not
exist; we use ``p3.2xlarge``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from cmlinfra.clouds import catalogs
from cmlinfra.clouds.catalogs import DEFAULT_REGION, SIZES
from cmlinfra.errors import UsageError

GPUS = ("k80", "t4", "v100", "a10g", "a100")
TYPES: dict[tuple[str, str | None], str] = {
    ("s", None): "t2.micro",
    ("m", None): "m5.2xlarge",
    ("l", None): "m5.8xlarge",
    ("xl", None): "m5.16xlarge",
    ("m", "k80"): "p2.xlarge",
    ("l", "k80"): "p2.8xlarge",
    ("xl", "k80"): "p2.16xlarge",
    ("m", "v100"): "p3.2xlarge",
    ("l", "v100"): "p3.8xlarge",
    ("xl", "v100"): "p3.16xlarge",
    ("m", "t4"): "g4dn.xlarge",
    ("l", "t4"): "g4dn.12xlarge",
    ("xl", "t4"): "g4dn.metal",
    ("m", "a10g"): "g5.xlarge",
    ("l", "a10g"): "g5.12xlarge",
    ("xl", "a10g"): "g5.48xlarge",
    ("xl", "a100"): "p4d.24xlarge",
}
REGION_ALIASES = {
    "us-east": "us-east-1",
    "us-west": "us-west-1",
    "eu-west": "eu-west-1",
    "eu-north": "eu-north-1",
}
MAX_HDD_GB = 16384  # largest gp3 volume
RAW_TYPE = re.compile(r"[a-z][a-z0-9-]*\.[a-z0-9-]+")
ZONE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+[a-z]")  # us-east-1a, ap-southeast-2b


@dataclass(frozen=True)
class InstanceSpec:
    """A concrete instance type with what we know of it offline."""

    instance_type: str
    gpu: str | None
    gpu_count: int
    vcpus: int | None
    memory_gib: float | None
    hourly_price: float | None  # on-demand, us-east-1, from the committed table
    size: str | None  # the CML size it came from; None for a raw instance type


@cache
def price_table() -> dict[str, Any]:
    """The committed on-demand table (data/instance-types.json) with its date and source."""
    return catalogs.load_json(__package__, "data/instance-types.json")


def normalize_gpu(gpu: str | None) -> str | None:
    """``--cloud-gpu`` value → canonical GPU name or None (``nogpu``)."""
    return catalogs.normalize_gpu(gpu, GPUS)


def instance_spec(cloud_type: str, gpu: str | None = None) -> InstanceSpec:
    """Resolve ``--cloud-type`` (``m``, ``l+t4``, or a raw type like ``g5.2xlarge``) and
    ``--cloud-gpu`` to an instance type, or raise a one-line UsageError."""
    text = cloud_type.strip().lower()
    size, plus, wanted_gpu = catalogs.split_type(
        text, cloud_type, gpu, normalize_gpu(gpu), normalize_gpu
    )
    if size in SIZES:
        instance_type = catalogs.sized_type(size, wanted_gpu, TYPES, "AWS", "raw instance type")
        known = price_table()["types"][instance_type]
        return InstanceSpec(
            instance_type,
            known["gpu"],
            known["gpu_count"],
            known["vcpus"],
            known["memory_gib"],
            known["price"],
            size,
        )
    if plus or not RAW_TYPE.fullmatch(text):
        raise catalogs.unknown_type(
            cloud_type, size, GPUS, " or an EC2 instance type such as g5.2xlarge"
        )
    if wanted_gpu is not None:  # as TPI: a raw type decides the GPU, --cloud-gpu is ignored
        import logging

        logging.getLogger("cmlinfra.clouds").warning(
            "warning: --cloud-gpu %s ignored: the instance type %s decides the GPU "
            "(as CML and TPI do)",
            gpu,
            cloud_type,
        )
    known = price_table()["types"].get(text)
    if known is None:  # validated against the EC2 API later (lookups.describe_type)
        return InstanceSpec(text, None, 0, None, None, None, None)
    return InstanceSpec(
        text,
        known["gpu"],
        known["gpu_count"],
        known["vcpus"],
        known["memory_gib"],
        known["price"],
        None,
    )


@cache
def known_regions() -> frozenset[str]:
    """EC2 regions botocore knows (its bundled endpoint data: offline, and current with the
    installed botocore)."""
    import boto3

    session = boto3.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions |= set(session.get_available_regions("ec2", partition_name=partition))
    return frozenset(regions)


def split_zone(region: str | None) -> tuple[str | None, str | None]:
    """``--cloud-region`` as TPI reads it on AWS: a name ending in a letter is an availability
    zone (``us-east-1a``) → (``us-east-1``, ``us-east-1a``); anything else → (it, None)."""
    value = (region or "").strip().lower()
    if ZONE.fullmatch(value):
        return value[:-1], value
    return region, None


def region_name(region: str | None) -> str:
    """CML alias (``us-west``), raw region or zone → AWS region, or a one-line UsageError."""
    value = (split_zone(region)[0] or DEFAULT_REGION).strip().lower()
    return catalogs.resolve_region(
        value,
        region,
        REGION_ALIASES,
        known_regions(),
        "AWS region",
        "an AWS region such as eu-central-1",
    )


def hdd_size(size_gb: int | None) -> int:
    """``--cloud-hdd-size`` in GB (CML default 35), within what EBS allows."""
    return catalogs.hdd_size(size_gb, 8, MAX_HDD_GB)


def parse_spot_price(text: str | float | None) -> float | None:
    """``--cloud-spot-price``: a positive USD/hour number; ``-1`` or empty means "up to the
    on-demand price" (CML's convention), returned as None."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--cloud-spot-price {text!r} is not a number", "give USD per hour, e.g. 0.35"
        ) from None
    if value == -1:
        return None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(
            f"--cloud-spot-price {text!r} must be a positive price",
            "give USD per hour, e.g. 0.35, or -1 for up to the on-demand price",
        )
    return value


TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}")
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")  # EC2's own rule; no line break or control


def tags(metadata: dict[str, str]) -> dict[str, str]:
    """``--cloud-metadata key=value`` → EC2 tags, checked against EC2's tag rules."""
    for key, value in metadata.items():
        if not TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            raise UsageError(
                f"--cloud-metadata key {key!r} is not a valid EC2 tag key",
                "use up to 128 letters, digits, spaces or _.:/=+-@, not starting with aws:",
            )
        if len(value) > 256:
            raise UsageError(
                f"--cloud-metadata value of {key!r} is longer than 256 characters",
                "shorten it",
            )
        if not TAG_VALUE.fullmatch(value):
            raise UsageError(
                f"--cloud-metadata value of {key!r} is not a valid EC2 tag value",
                "use letters, digits, spaces or _.:/=+-@ (no line breaks)",
            )
    return dict(metadata)
