"""The AWS inventory: EC2 instances tagged ``cmlinfra:stack`` (and their key pairs), through
boto3 alone — what ``gc`` compares with the registry, and what a teardown deletes when no
Terraform state holds it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.aws.tags import EXPIRES_TAG, ROLE_TAG, STACK_TAG
from cmlinfra.clouds.base import Machine, SweepScope
from cmlinfra.clouds.tags import parse_expiry
from cmlinfra.errors import CmlinfraError

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def sweep_regions(scope: SweepScope) -> tuple[str, ...]:
    """``gc --region``, the records' regions and ``$AWS_REGION`` / ``$AWS_DEFAULT_REGION``: a
    machine can only be in a region something points at."""
    regions = [*scope.regions, *scope.record_regions]
    env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    regions += [env] if env else []
    if not regions:
        raise CmlinfraError("no AWS region to sweep", "pass --region REGION")
    return tuple(dict.fromkeys(regions))


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
                            {"Name": "instance-state-name", "Values": LIVE_STATES},
                        ]
                    )
                )
                for page in pages:
                    for reservation in page["Reservations"]:
                        found += [_machine(i, region) for i in reservation["Instances"]]
            except (ClientError, BotoCoreError) as exc:
                raise CmlinfraError(
                    f"cannot list EC2 instances in {region}: {exc}",
                    "check the AWS credentials (ec2:DescribeInstances) and the region",
                ) from None
        return found

    def delete(self, machine: Machine) -> None:
        """Terminate (a terminated instance terminates again without error) and delete the
        stack's key pairs; an instance EC2 no longer knows is already gone."""
        from botocore.exceptions import ClientError

        ec2 = self._ec2(machine.region)
        try:
            ec2.terminate_instances(InstanceIds=[machine.id])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidInstanceID.NotFound":
                raise
        pairs = ec2.describe_key_pairs(
            Filters=[{"Name": f"tag:{STACK_TAG}", "Values": [machine.stack]}]
        )
        for pair in pairs.get("KeyPairs", []):
            ec2.delete_key_pair(KeyName=pair["KeyName"])


def _machine(instance: dict[str, Any], region: str) -> Machine:
    tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
    return Machine(
        cloud="aws",
        id=instance["InstanceId"],
        stack=tags.get(STACK_TAG, ""),
        region=region,
        state=instance.get("State", {}).get("Name", ""),
        expires=parse_expiry(tags.get(EXPIRES_TAG)),
        role=tags.get(ROLE_TAG, ""),
    )
