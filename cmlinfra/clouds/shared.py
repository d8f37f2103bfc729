"""What several clouds ask the same way: who may reach a new machine's SSH (the launcher's own
public address, or a CIDR the user gave; the whole internet is refused) and which repository
launched it (a tag, for people and for gc)."""

from __future__ import annotations

import ipaddress
import os

from cmlinfra.errors import CmlinfraError, UsageError

PUBLIC_IP_URL = "https://checkip.amazonaws.com"
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


def check_cidr(cidr: str) -> str:
    """The CIDR in canonical form (host bits cleared), refusing the whole internet."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise UsageError(
            f"--ssh-cidr {cidr!r} is not a CIDR block", "write it like 203.0.113.7/32"
        ) from None
    if network.prefixlen == 0:
        raise UsageError(
            f"--ssh-cidr {cidr} opens SSH to the whole internet",
            "give the launcher's address range (default: its public address /32)",
        )
    return str(network)


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
