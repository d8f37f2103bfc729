"""Publishing an EC2 instance as an AMI, and listing cmlinfra's AMIs (boto3).

The AMI and its snapshots carry the same tags, so ``image list``, cost reports and clean-up
find both. ``create_image`` reboots the instance by default, which flushes the file systems after
the clean-up script ran; waiting uses boto3's own ``image_available`` waiter.
"""

from __future__ import annotations

from typing import Any

from cmlinfra.errors import CmlinfraError

IMAGE_TAG = "cmlinfra:image"


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


def list_images(ec2: Any) -> list[dict[str, Any]]:
    """This account's AMIs tagged by cmlinfra, oldest first."""
    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{IMAGE_TAG}", "Values": ["true"]}]
    )["Images"]
    rows = []
    for image in images:
        tags = {t["Key"]: t["Value"] for t in image.get("Tags") or []}
        rows.append(
            {
                "cloud": "aws",
                "id": image["ImageId"],
                "name": image.get("Name", ""),
                "created": str(image.get("CreationDate", ""))[:19],
                "state": image.get("State", ""),
                "base": tags.get("cmlinfra:base", ""),
                "steps": tags.get("cmlinfra:steps", ""),
            }
        )
    return sorted(rows, key=lambda r: r["created"])
