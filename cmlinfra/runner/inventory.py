"""What actually runs on each cloud, read from the cloud's own API, not from any state.

The sweeper compares this with the registry: a machine tagged by cmlinfra that no record
claims was left by a launcher that died before writing (or after losing) its state. Tags are
set by the stacks (AWS ``cmlinfra:stack`` / ``cmlinfra:expires``; LXD ``user.cmlinfra.stack``
/ ``user.cmlinfra.expires``), so this module needs no Terraform and no state to find them.

The role tag (``cmlinfra-role``: AWS tag, LXD ``user.cmlinfra-role``) says who made a machine:
``runner`` (launch/exec, which write a registry record first), ``stack`` (``stack apply``) or
``image-builder`` (``image bake``). Only a runner's machine without a record is garbage; the
others belong to no registry, so gc deletes them only once they have expired.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cmlinfra.errors import CmlinfraError

STACK_TAG = "cmlinfra:stack"
EXPIRES_TAG = "cmlinfra:expires"
LXD_STACK_KEY = "user.cmlinfra.stack"
LXD_EXPIRES_KEY = "user.cmlinfra.expires"
ROLE_KEY = "cmlinfra-role"  # a --cloud-metadata key: EC2 tag, LXD user.cmlinfra-role
LXD_ROLE_KEY = f"user.{ROLE_KEY}"
RUNNER_ROLE = "runner"


def with_role(request: Any, role: str) -> Any:
    """``request`` (a MachineRequest) with its machine tagged as made for ``role``."""
    import dataclasses

    return dataclasses.replace(request, metadata={**request.metadata, ROLE_KEY: role})


@dataclass(frozen=True)
class Machine:
    cloud: str
    id: str  # EC2 instance id, LXD container name
    stack: str  # the runner name that owns it
    region: str = ""
    state: str = ""
    expires: float | None = None  # epoch; None: no expiry tag
    role: str = ""  # runner | stack | image-builder; "" when untagged

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (now or time.time()) >= self.expires


class Inventory(Protocol):
    cloud: str

    def machines(self) -> list[Machine]: ...

    def delete(self, machine: Machine) -> None:
        """Delete the machine directly through the cloud API (no Terraform needed)."""
        ...


def parse_expiry(value: str | None) -> float | None:
    """Unix seconds or RFC 3339 (``2026-11-27T12:00:00Z``) → epoch; junk → None."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class AwsInventory:
    """EC2 instances (and their key pairs) tagged ``cmlinfra:stack``, in the given regions."""

    regions: tuple[str, ...]
    cloud: str = "aws"

    def _ec2(self, region: str) -> Any:
        import boto3

        return boto3.client("ec2", region_name=region)

    def machines(self) -> list[Machine]:
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        for region in self.regions:
            try:
                pages = (
                    self._ec2(region)
                    .get_paginator("describe_instances")
                    .paginate(
                        Filters=[
                            {"Name": "tag-key", "Values": [STACK_TAG]},
                            {
                                "Name": "instance-state-name",
                                "Values": ["pending", "running", "stopping", "stopped"],
                            },
                        ]
                    )
                )
                for page in pages:
                    for reservation in page["Reservations"]:
                        found += [_ec2_machine(i, region) for i in reservation["Instances"]]
            except (ClientError, BotoCoreError) as exc:
                raise CmlinfraError(
                    f"cannot list EC2 instances in {region}: {exc}",
                    "check the AWS credentials (ec2:DescribeInstances) and the region",
                ) from None
        return found

    def delete(self, machine: Machine) -> None:
        ec2 = self._ec2(machine.region)
        ec2.terminate_instances(InstanceIds=[machine.id])
        pairs = ec2.describe_key_pairs(
            Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [machine.stack]}]
        )
        for pair in pairs.get("KeyPairs", []):
            ec2.delete_key_pair(KeyName=pair["KeyName"])


def _ec2_machine(instance: dict[str, Any], region: str) -> Machine:
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return Machine(
        cloud="aws",
        id=instance["InstanceId"],
        stack=tags.get(STACK_TAG, ""),
        region=region,
        state=instance.get("State", {}).get("Name", ""),
        expires=parse_expiry(tags.get(EXPIRES_TAG)),
        role=tags.get(ROLE_KEY, ""),
    )


@dataclass
class LxdInventory:
    """LXD containers carrying ``user.cmlinfra.stack``, through the ``lxc`` client."""

    cloud: str = "lxd"
    remote: str = ""  # "" for the local daemon, else "name:" of an lxc remote

    def _lxc(self, *args: str) -> str:
        try:
            result = subprocess.run(
                ["lxc", *args], capture_output=True, text=True, timeout=120, check=False
            )
        except FileNotFoundError:
            raise CmlinfraError("the lxc client is not installed", "install LXD") from None
        if result.returncode != 0:
            raise CmlinfraError(
                f"lxc {args[0]} failed: {result.stderr.strip()[-300:]}",
                "check that LXD is running (scripts/localcloud.sh status)",
            )
        return result.stdout

    def machines(self) -> list[Machine]:
        listing = json.loads(self._lxc("list", self.remote, "--format", "json") or "[]")
        found = []
        for item in listing:
            config = item.get("config", {})
            if LXD_STACK_KEY not in config:
                continue
            found.append(
                Machine(
                    cloud="lxd",
                    id=item["name"],
                    stack=config[LXD_STACK_KEY],
                    state=str(item.get("status", "")).lower(),
                    expires=parse_expiry(config.get(LXD_EXPIRES_KEY)),
                    role=config.get(LXD_ROLE_KEY, ""),
                )
            )
        return found

    def delete(self, machine: Machine) -> None:
        try:
            self._lxc("delete", "--force", f"{self.remote}{machine.id}")
        except CmlinfraError as exc:
            if "not found" not in exc.problem.lower():  # an ephemeral one that just went
                raise
