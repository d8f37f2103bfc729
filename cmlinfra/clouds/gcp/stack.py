"""A resolved GCP machine → the StackSpec composing terraform/modules/gcp/{network,gpu-runner}.

Pure data: every look-up already happened in ``resolve()``, so building the spec needs no
network and the same machine always gives the same spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cmlinfra.clouds.base import Ref, ResolvedMachine, StackSpec
from cmlinfra.clouds.modules import module_path
from cmlinfra.clouds.shared import ssh_ingress

PROVIDER_SOURCE = "hashicorp/google"
PROVIDER_VERSION = ">= 8.0, < 9.0"  # same constraint as the modules' versions.tf
OUTPUTS = ("address", "instance_id", "ssh_user", "ssh_port", "public_ip", "private_ip",
           "image", "region", "zone", "project", "service_account_email")  # fmt: skip


def module_dir(name: str) -> Path:
    return module_path("gcp", name)


def expires_label(machine: ResolvedMachine) -> str:
    """Unix seconds: the stack's own expiry (set when it was first rendered) when it has one,
    else the one resolve() computed from the max TTL."""
    expires = machine.extra.get("expires")
    return str(int(expires)) if expires else str(machine.extra["expires_epoch"])


def default_labels(machine: ResolvedMachine) -> dict[str, str]:
    """Labels on everything the stack creates (provider default_labels), for gc and people."""
    extra = machine.extra
    return {
        "cmlinfra-stack": machine.request.name,
        "cmlinfra-repo": extra.get("repo_label", ""),
        "cmlinfra-expires": expires_label(machine),
        "managed-by": "cmlinfra",
    }


def build(machine: ResolvedMachine, ssh_public_key: str) -> StackSpec:
    """The network + gpu-runner composition for one runner."""
    request, extra = machine.request, machine.extra
    name = request.name
    network: dict[str, Any] = {
        "name": name,
        **ssh_ingress(extra["ssh_cidr"], machine.request.allow_world_ssh),
        "ssh_port": request.port,
        "network": extra["network"],
        "create_network": extra["create_network"],
        "region": machine.region,
    }
    if extra.get("subnetwork"):
        network["subnetwork"] = extra["subnetwork"]
    runner: dict[str, Any] = {
        "name": name,
        "zone": extra["zone"],
        "machine_type": machine.instance_type,
        "gpu_type": extra["accelerator"],
        "gpu_count": extra["accelerator_count"],
        "image": machine.image,
        "boot_disk_size_gb": extra["hdd_size_gb"],
        "network": Ref("module.network.network"),
        "subnetwork": Ref("module.network.subnetwork"),
        "network_tags": [Ref("module.network.target_tag")],
        "ssh_public_key": ssh_public_key.strip(),
        "ssh_user": extra["ssh_user"],
        "ssh_port": request.port,
        "spot": request.spot,
        "max_run_duration_seconds": extra["max_ttl_seconds"],
        "startup_script": extra["startup_script"],
        "stack_id": name,
        "expires_at": expires_label(machine),
        "labels": extra["labels"],
    }
    if extra.get("service_account_email"):
        runner["service_account_email"] = extra["service_account_email"]
        runner["service_account_scopes"] = extra["service_account_scopes"]
    if extra.get("self_delete_role"):
        runner["self_delete_role"] = extra["self_delete_role"]
    return StackSpec(
        name=name,
        cloud="gcp",
        modules={
            "network": (module_dir("network"), network),
            "runner": (module_dir("gpu-runner"), runner),
        },
        providers={
            "google": {
                "project": extra["project"],
                "region": machine.region,
                "zone": extra["zone"],
                "default_labels": default_labels(machine),
            }
        },
        required_providers={"google": {"source": PROVIDER_SOURCE, "version": PROVIDER_VERSION}},
        outputs={o: f"module.runner.{o}" for o in OUTPUTS},
    )
