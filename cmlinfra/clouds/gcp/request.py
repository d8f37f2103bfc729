"""What a ``--cloud-*`` request means on Google Cloud, checked offline: the region or zone,
disk, spot price, labels, image, service account, SSH source range. No network, no SDK: the
cloud runs these before any credential is used."""

from __future__ import annotations

import os
import re

from cmlinfra.clouds.catalogs import DEFAULT_REGION, suggest
from cmlinfra.clouds.catalogs import hdd_size as _hdd_size
from cmlinfra.clouds.gcp.tags import IMAGE_FAMILY, label_value
from cmlinfra.errors import UsageError

REGION_ALIASES = {
    "us-east": "us-east1-c",
    "us-west": "us-west1-b",
    "eu-north": "europe-north1-a",
    "eu-west": "europe-west1-d",
}  # CML's regions are terraform-provider-iterative's zones on GCP
MAX_HDD_GB = 65536
REGION = re.compile(r"^[a-z]+-[a-z]+\d+\Z")
ZONE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]\Z")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}\Z")


def location(region: str | None) -> tuple[str, str | None]:
    """``--cloud-region``: a CML alias (→ TPI's zone), a zone or a region → (region, zone)."""
    value = (region or DEFAULT_REGION).strip().lower()
    value = REGION_ALIASES.get(value, value)
    if match := ZONE.match(value):
        return match.group(1), value
    if REGION.match(value):
        return value, None
    raise UsageError(
        f"--cloud-region {region!r} is not a Google Cloud region or zone",
        f"{suggest(value, REGION_ALIASES)}use {', '.join(REGION_ALIASES)}, a region such "
        "as us-central1 or a zone such as us-central1-a",
    )


def hdd_size(size_gb: int | None) -> int:
    """``--cloud-hdd-size`` in GB (CML default 35), within what a boot disk allows."""
    return _hdd_size(size_gb, 10, MAX_HDD_GB)


def spot_price(price: float | None) -> None:
    """Spot VMs have no bid on Google Cloud: a positive ``--cloud-spot-price`` cannot work."""
    if price is not None:
        raise UsageError(
            "--cloud-spot-price has no meaning on Google Cloud: Spot VMs have no bid",
            "drop --cloud-spot-price (or pass -1)",
        )


def labels(metadata: dict[str, str]) -> dict[str, str]:
    """``--cloud-metadata key=value`` → Compute Engine labels. Keys must already be valid
    (a changed key would be a different label); values are folded to the label alphabet."""
    result = {}
    for key, value in metadata.items():
        if not LABEL_KEY.match(key):
            raise UsageError(
                f"--cloud-metadata key {key!r} is not a valid Google Cloud label key",
                "use 1-63 lowercase letters, digits, _ or -, starting with a letter",
            )
        result[key] = label_value(value)
    if len(result) > 60:  # 64 per resource; the stack adds its own
        raise UsageError("too many --cloud-metadata labels", "give at most 60")
    return result


# --cloud-image aliases: (project, family)
IMAGES = {
    "ubuntu-22.04": ("ubuntu-os-cloud", "ubuntu-2204-lts"),
    "ubuntu-24.04": ("ubuntu-os-cloud", "ubuntu-2404-lts-amd64"),
}
BAKED_FAMILY = IMAGE_FAMILY  # what `cmlinfra image bake --cloud gcp` publishes
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,48}[a-z0-9])?\Z")
SA_EMAIL = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com\Z")
IMAGE_PATH = re.compile(
    r"^(?:https://www\.googleapis\.com/compute/v1/)?"
    r"projects/([^/]+)/global/images/(family/)?([a-z0-9-]+)$"
)
PROJECT_FAMILY = re.compile(r"^([a-z][-a-z0-9.:]{4,62}[a-z0-9])/([a-z][-a-z0-9]{0,62})\Z")
SCOPE = re.compile(r"^(?:https://www\.googleapis\.com/auth/[a-z0-9._/-]+|[a-z][a-z0-9.-]*)\Z")
USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\Z")


def image_source(image: str | None) -> tuple[str | None, str | None, str | None]:
    """``--cloud-image`` → (project, family, name); project None: the launch project."""
    if image is None:
        return (*IMAGES["ubuntu-22.04"], None)
    text = image.strip()
    if text in IMAGES:
        return (*IMAGES[text], None)
    if text == "cmlinfra":
        return None, BAKED_FAMILY, None
    if match := IMAGE_PATH.match(text):
        project, is_family, name = match.groups()
        return (project, name, None) if is_family else (project, None, name)
    if match := PROJECT_FAMILY.match(text):  # CML's project/family
        return match.group(1), match.group(2), None
    raise UsageError(
        f"--cloud-image {image!r} is not a Google Cloud image",
        "give ubuntu-22.04, ubuntu-24.04, cmlinfra (the baked image), PROJECT/FAMILY "
        "or projects/PROJECT/global/images/NAME",
    )


def service_account(permission_set: str | None) -> tuple[str | None, list[str]]:
    """CML's ``--cloud-permission-set EMAIL[,scopes=S1,S2]`` → (email, scopes)."""
    if not permission_set:
        return None, ["cloud-platform"]
    email, *rest = [p.strip() for p in permission_set.split(",")]
    if not SA_EMAIL.match(email) or email.endswith("-compute@developer.gserviceaccount.com"):
        raise UsageError(
            f"--cloud-permission-set {email!r} is not a user-managed service account",
            "give NAME@PROJECT.iam.gserviceaccount.com (never the Compute Engine default one)",
        )
    scopes = [s.removeprefix("scopes=") for s in rest if s]
    for scope in scopes:
        if not SCOPE.match(scope):
            raise UsageError(
                f"--cloud-permission-set scope {scope!r} is not an OAuth scope",
                "give a scope alias (cloud-platform, storage-ro…) or its "
                "https://www.googleapis.com/auth/… URL",
            )
    return email, scopes or ["cloud-platform"]


def ssh_cidr(cidr: str, allow_world: bool = False) -> str:
    """The CIDR in canonical form, by the validator every cloud shares."""
    from cmlinfra.clouds.validate import ssh_cidr as checked

    return checked(cidr, allow_world=allow_world)


def owner_repo() -> str:
    env = os.environ
    if env.get("GITHUB_REPOSITORY"):
        return f"github.com/{env['GITHUB_REPOSITORY']}"
    if env.get("CI_PROJECT_PATH"):
        return f"gitlab/{env['CI_PROJECT_PATH']}"
    return env.get("BITBUCKET_REPO_FULL_NAME", "")
