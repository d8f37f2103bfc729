"""The AWS image store: an EC2 instance published as an AMI, cmlinfra's AMIs listed and
deleted (boto3).

The AMI and its snapshots carry the same tags, so ``image list``, cost reports and clean-up
find both. ``create_image`` reboots the instance by default, which flushes the file systems after
the clean-up script ran; waiting uses boto3's own ``image_available`` waiter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.aws.tags import IMAGE_TAG, image_tags
from cmlinfra.clouds.base import Image
from cmlinfra.errors import CmlinfraError, UsageError


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def name_taken(ec2: Any, name: str) -> str | None:
    """The id of this account's AMI called ``name`` in the client's region, if any (AMI names
    are unique per account and region; checked before a builder is paid for)."""
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
    return str(images["Images"][0]["ImageId"]) if images["Images"] else None


def publish(
    ec2: Any,
    instance_id: str,
    name: str,
    tags: dict[str, str],
    *,
    description: str = "cmlinfra runner image",
    wait: float = 3600,
) -> str:
    """Create an AMI from ``instance_id``, tag it and its snapshots, wait until it is available
    (or ``wait`` seconds), and return its id."""
    from botocore.exceptions import ClientError, WaiterError

    all_tags = _tags({IMAGE_TAG: "true", "Name": name, **tags})
    taken = name_taken(ec2, name)
    if taken:
        raise CmlinfraError(
            f"an AMI named {name!r} already exists ({taken})", "choose another --name"
        )
    try:
        image_id = str(
            ec2.create_image(
                InstanceId=instance_id,
                Name=name,
                Description=description,
                TagSpecifications=[{"ResourceType": "image", "Tags": all_tags}],
            )["ImageId"]
        )
    except ClientError as exc:
        raise CmlinfraError(
            f"creating AMI {name!r} from {instance_id} failed: {exc.response['Error']['Message']}",
            "check the name is unused in this region and the role may call ec2:CreateImage",
        ) from exc
    delay = 15
    try:
        ec2.get_waiter("image_available").wait(
            ImageIds=[image_id],
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(wait // delay))},
        )
    except WaiterError as exc:
        raise CmlinfraError(
            f"AMI {image_id} did not become available within {wait:.0f}s ({exc})",
            f"check it with 'aws ec2 describe-images --image-ids {image_id}'",
        ) from exc
    # Snapshots are tagged once they exist (rather than through a "snapshot" TagSpecification,
    # which moto, the test server, does not implement), so cost reports and gc find them too.
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    snapshots = [
        m["Ebs"]["SnapshotId"]
        for m in image.get("BlockDeviceMappings") or []
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    if snapshots:
        ec2.create_tags(Resources=snapshots, Tags=all_tags)
    return image_id


def list_images(ec2: Any) -> list[Image]:
    """This account's AMIs tagged by cmlinfra, oldest first."""
    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{IMAGE_TAG}", "Values": ["true"]}]
    )["Images"]
    rows = []
    for image in images:
        tags = {t["Key"]: t["Value"] for t in image.get("Tags") or []}
        rows.append(
            Image(
                cloud="aws",
                id=image["ImageId"],
                name=image.get("Name", ""),
                created=str(image.get("CreationDate", ""))[:19],
                base=tags.get("cmlinfra:base", ""),
                steps=tags.get("cmlinfra:steps", ""),
                details={"state": image.get("State", "")},
            )
        )
    return sorted(rows, key=lambda r: r.created)


def delete(ec2: Any, image_id: str) -> None:
    """Deregister the AMI and delete its snapshots; an AMI already gone is fine."""
    from botocore.exceptions import ClientError

    try:
        found = ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "").startswith("InvalidAMIID"):
            return
        raise
    for image in found:
        ec2.deregister_image(ImageId=image_id)
        for mapping in image.get("BlockDeviceMappings") or []:
            snapshot = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot:
                ec2.delete_snapshot(SnapshotId=snapshot)


@dataclass
class AwsImages:
    """:class:`~cmlinfra.clouds.base.ImageStore` for AMIs in one region (None: the
    environment's, as boto3 finds it)."""

    region: str | None = None
    cloud: str = "aws"

    def _ec2(self) -> Any:
        import boto3

        return boto3.client("ec2", region_name=self.region)

    def check_free(self, name: str, *, replace: bool = False) -> None:
        taken = name_taken(self._ec2(), name)
        if taken:  # AMI names are unique per account and region: replace cannot help
            raise UsageError(
                f"an AMI named {name!r} already exists ({taken})", "choose another --name"
            )

    def publish(
        self, instance_id: str, name: str, properties: dict[str, str], *, replace: bool = False
    ) -> str:
        return publish(self._ec2(), instance_id, name, image_tags(properties))

    def list_images(self) -> list[Image]:
        return list_images(self._ec2())

    def delete(self, image_id: str) -> None:
        delete(self._ec2(), image_id)
