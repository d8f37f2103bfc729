"""The Google Cloud cloud's own options: the VPC and subnetwork to launch into. Declared here
for the CLI, checked here offline. Stdlib only: the registry reads ``OPTIONS`` for ``--help``."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from cmlinfra.clouds.info import CloudOption
from cmlinfra.errors import UsageError

if TYPE_CHECKING:
    from cmlinfra.clouds.base import MachineRequest

NETWORK_ENV, SUBNETWORK_ENV = "CMLINFRA_GCP_NETWORK", "CMLINFRA_GCP_SUBNETWORK"
NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")

NETWORK = CloudOption(
    "--cloud-gcp-network",
    "GCP: launch into this VPC network (name) instead of the project's default one "
    f"(default: ${NETWORK_ENV}; without a default network one is created).",
)
SUBNETWORK = CloudOption(
    "--cloud-gcp-subnetwork",
    "GCP: the subnetwork of --cloud-gcp-network in the runner's region, checked to exist "
    f"(default: ${SUBNETWORK_ENV}, else the network's own).",
)
OPTIONS = (NETWORK, SUBNETWORK)


def _chosen(request: MachineRequest, option: CloudOption, env: str) -> tuple[str, str]:
    given = request.options.get(option.flag, "").strip()
    return (given, option.flag) if given else (os.environ.get(env, "").strip(), f"${env}")


def network(request: MachineRequest) -> tuple[str, str]:
    """(network, where it came from): the option, the environment, else ("default", "")."""
    value, source = _chosen(request, NETWORK, NETWORK_ENV)
    return (value, source) if value else ("default", "")


def subnetwork(request: MachineRequest) -> tuple[str, str]:
    return _chosen(request, SUBNETWORK, SUBNETWORK_ENV)


def check(request: MachineRequest) -> None:
    """The options' spelling, before any credential is used."""
    for value, source in (network(request), subnetwork(request)):
        if value and not NAME.match(value):
            raise UsageError(
                f"{source} {value!r} is not a network name",
                "give the name (lowercase letters, digits, dashes), not a URL",
            )
