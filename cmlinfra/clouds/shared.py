"""What several clouds ask the same way: who may reach a new machine's SSH (the launcher's own
public address, or a CIDR the user gave; more than a /16 of public addresses only with
--allow-world-ssh) and which repository
launched it (a tag, for people and for gc)."""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from cmlinfra.errors import CmlinfraError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import ResolvedMachine

T = TypeVar("T")
PUBLIC_IP_URL = "https://checkip.amazonaws.com"
# CML's named regions, its default first: what --cloud-region any stands for on a public cloud
# that maps them (each to its own region or zone; docs/failover.md)
CML_REGIONS = ("us-west", "us-east", "eu-west", "eu-north")
PUBLIC_IP_ENV = "CMLINFRA_PUBLIC_IP_URL"


def launcher_cidr(url: str | None = None, timeout: float = 10) -> str:
    """This machine's public address as a /32 (or /128), asked of an echo service."""
    import requests

    url = url or os.environ.get(PUBLIC_IP_ENV) or PUBLIC_IP_URL
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        address = ipaddress.ip_address(response.text.strip())
    except (requests.RequestException, ValueError) as exc:
        raise CmlinfraError(
            f"could not learn this machine's public address from {url} ({type(exc).__name__})",
            f"pass the SSH source range with --ssh-cidr, or point {PUBLIC_IP_ENV} "
            "at a service that echoes the caller's address",
        ) from None
    return f"{address}/{address.max_prefixlen}"


def check_cidr(cidr: str, allow_world: bool = False) -> str:
    """The CIDR in canonical form, by the one validator every cloud shares
    (:func:`cmlinfra.clouds.validate.ssh_cidr`: parsed, at most a /16 of public addresses
    unless ``allow_world``)."""
    from cmlinfra.clouds.validate import ssh_cidr

    return ssh_cidr(cidr, allow_world=allow_world)


def ssh_ingress(cidr: str | None, allow_world: bool) -> dict[str, object]:
    """The network modules' SSH variables: ``ssh_cidrs`` and, with ``--allow-world-ssh``, the
    module's own ``allow_world_ssh`` switch (a range wider than the limit never goes into
    ``ssh_cidrs``: the modules refuse it there)."""
    from cmlinfra.clouds.validate import wide_open

    wide = cidr is not None and wide_open(ipaddress.ip_network(cidr, strict=False))
    cidrs = [] if cidr is None or (allow_world and wide) else [cidr]
    return {"ssh_cidrs": cidrs, **({"allow_world_ssh": True} if allow_world else {})}


def owner_repo() -> str:
    """The repository that launches the runner, from the CI's own variables (tag only)."""
    env = os.environ
    if env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").split("://")[-1]
        return f"{server}/{env['GITHUB_REPOSITORY']}"
    if env.get("CI_PROJECT_URL"):
        return env["CI_PROJECT_URL"].split("://")[-1]
    if env.get("BITBUCKET_REPO_FULL_NAME"):
        return f"bitbucket.org/{env['BITBUCKET_REPO_FULL_NAME']}"
    return ""


class PublicCloud:
    """What the public clouds' ``Cloud`` classes answer alike: ``--cloud-region any`` means
    CML's four named regions (each cloud maps them to its own), and the plan's cost note names
    the machine type, its region and where the price came from (the committed snapshot or the
    cloud's price API, in ``extra["price_source"]``)."""

    def any_regions(self) -> tuple[str, ...]:
        """``--cloud-region any``: CML's four regions, its default first (docs/failover.md)."""
        return CML_REGIONS

    def cost_note(self, machine: ResolvedMachine) -> str:
        source = str(machine.extra.get("price_source") or "")
        what = f"{machine.instance_type} in {self.cost_where(machine)}"
        return f"{what}, {source}" if source else what

    def cost_where(self, machine: ResolvedMachine) -> str:
        """Where the machine runs, for the cost note: its region (a cloud may say its zone)."""
        return machine.region


def poll_api(
    probe: Callable[[], T | None], wait_s: float, *, first: float = 2.0, cap: float = 4.0
) -> T | None:
    """Call ``probe`` (one read of a cloud API: a console log, guest attributes) until it
    returns something, or None once ``wait_s`` has passed; at least once.

    The pauses grow from ``first`` to ``cap``: a host key printed late in the boot is seen at
    most ``cap`` seconds after (a 10 s cap lost ≈ 5 s per launch on average, more than all of
    cmlinfra's own work), while a ``--count`` launch stays far inside the clouds' read quotas
    (one call per machine every few seconds, for the half minute of a boot)."""
    deadline = time.monotonic() + wait_s
    delay = first
    while True:
        found = probe()
        if found is not None:
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        time.sleep(min(delay, left))  # polling an API: nothing to wait on instead
        delay = min(delay * 1.5, cap)
