"""The offline half of an AWS request: ``--cloud-image``, ``--cloud-permission-set`` and the
repository tag, parsed without credentials or network."""

from __future__ import annotations

import re

from cmlinfra.errors import UsageError

CANONICAL = "099720109477"
# --cloud-image aliases: (owner, name pattern, login user)
IMAGES = {
    "ubuntu-22.04": (
        CANONICAL,
        "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*",
        "ubuntu",
    ),
    "ubuntu-24.04": (
        CANONICAL,
        "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*",
        "ubuntu",
    ),
    "nvidia": ("amazon", "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *", "ubuntu"),
}
AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
PROFILE_ARN = re.compile(
    r"arn:aws[\w-]*:iam::\d{12}:instance-profile/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)"
)
PROFILE_NAME = re.compile(r"[\w+=,.@-]{1,128}")


def image_source(image: str | None, gpu: str | None) -> tuple[str, str, str] | str:
    """``--cloud-image`` → an AMI id, or (owner, name pattern, user) to look up. Default: the
    NVIDIA-driver image for GPU types, Ubuntu 22.04 otherwise. A bare name is only searched
    among the account's own images (``self``): a public image with a look-alike name must
    never be picked by accident."""
    if image is None:
        return IMAGES["nvidia" if gpu else "ubuntu-22.04"]
    text = image.strip()
    if AMI_ID.fullmatch(text):
        return text
    if text in IMAGES:
        return IMAGES[text]
    owner, sep, pattern = text.partition(":")
    if sep and owner and pattern and re.fullmatch(r"\d{12}|self|amazon|aws-marketplace", owner):
        return (owner, pattern, "ubuntu")
    if sep:
        raise UsageError(
            f"--cloud-image {image!r} is not OWNER:NAME-PATTERN",
            "OWNER is a 12-digit account id, self, amazon or aws-marketplace",
        )
    return ("self", text, "ubuntu")


def instance_profile(permission_set: str | None) -> str | None:
    """``--cloud-permission-set``: an instance profile ARN (CML's form) or name → its name."""
    if not permission_set:
        return None
    text = permission_set.strip()
    if match := PROFILE_ARN.fullmatch(text):
        return match.group(1)
    if PROFILE_NAME.fullmatch(text) and not text.startswith("arn:"):
        return text
    raise UsageError(
        f"--cloud-permission-set {permission_set!r} is not an instance profile",
        "give arn:aws:iam::ACCOUNT:instance-profile/NAME or the profile's name",
    )
