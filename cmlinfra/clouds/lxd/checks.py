"""The local LXD cloud's rows in ``cmlinfra doctor``: the daemon answers on its socket, the
runner image is imported, and terraform can install the LXD provider offline.

LXD is one cloud among several, so its rows are warnings (``required=False``): a machine that
launches AWS runners is ready without it. Each row's fix is ``scripts/localcloud.sh up``, which
sets up all three.
"""

from __future__ import annotations

from cmlinfra.clouds.lxd.api import FIX, LxdApi
from cmlinfra.clouds.lxd.catalog import DEFAULT_IMAGE
from cmlinfra.doctor import Check, CheckFn, Options
from cmlinfra.errors import CmlinfraError

PROVIDER_FILE = (  # the filesystem-mirror layout terraform expects
    "registry.terraform.io/terraform-lxd/lxd/{version}/linux_amd64/"
    "terraform-provider-lxd_v{version}"
)


def check_lxd(options: Options) -> list[Check]:
    api = LxdApi(timeout=5.0)
    try:
        info = api.ping()
    except CmlinfraError as exc:
        return [
            Check("lxd", False, exc.problem, exc.fix, required=False),
            Check("lxd image", False, "not checked: LXD does not answer", FIX, required=False),
        ]
    version = (info.get("environment") or {}).get("server_version", "?")
    rows = [Check("lxd", True, f"LXD {version} answers at {api.path}", required=False)]
    if api.image_exists(DEFAULT_IMAGE):
        rows.append(Check("lxd image", True, f"image {DEFAULT_IMAGE} is imported", required=False))
    else:
        rows.append(
            Check("lxd image", False, f"image {DEFAULT_IMAGE} is missing", FIX, required=False)
        )
    return rows


def check_provider(options: Options) -> list[Check]:
    """The terraform-lxd provider in the filesystem mirror: the registry is often unreachable
    from CI runners and always from here, so ``terraform init`` installs it from there."""
    from cmlinfra.clouds.lxd.cloud import PROVIDER
    from cmlinfra.stack.service import provider_mirror

    version = PROVIDER["version"]
    mirror = provider_mirror()
    where = "CMLINFRA_PROVIDER_MIRROR or $CMLINFRA_CACHE/providers"
    if mirror is None:
        detail = f"no provider mirror ({where} is not a directory)"
        return [Check("lxd provider", False, detail, FIX, required=False)]
    binary = mirror / PROVIDER_FILE.format(version=version)
    if not binary.is_file():
        detail = f"terraform-lxd {version} is not in the mirror {mirror}"
        return [Check("lxd provider", False, detail, FIX, required=False)]
    return [Check("lxd provider", True, f"terraform-lxd {version} in {mirror}", required=False)]


CHECKS: list[CheckFn] = [check_lxd, check_provider]
