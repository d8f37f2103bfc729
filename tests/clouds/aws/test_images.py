"""The AWS half of image bake against a real moto server: an AMI from a running instance,
tagged (AMI and snapshots), waited on with boto3's waiter, and listed by `image list`.

What cannot run here is the builder itself: creating it needs the Terraform AWS provider, which
this machine cannot download; the builder path is the same code the LXD bake test runs."""

from __future__ import annotations

import json

import pytest

from cmlinfra.clouds.aws import images as aws
from cmlinfra.errors import CmlinfraError
from tests.fixtures.moto import MotoServer


def _instance(ec2) -> str:  # type: ignore[no-untyped-def]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    reservation = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="g4dn.xlarge"
    )
    return str(reservation["Instances"][0]["InstanceId"])


def test_publish_tags_waits_and_lists(moto: MotoServer) -> None:
    ec2 = moto.client("ec2")
    instance = _instance(ec2)
    image_id = aws.publish(ec2, instance, "cml-gpu-test", {"cmlinfra:steps": "detect,docker"})
    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert image["State"] == "available"
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert tags == {
        "cmlinfra:image": "true",
        "Name": "cml-gpu-test",
        "cmlinfra:steps": "detect,docker",
    }
    snapshots = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    assert snapshots
    for snapshot in ec2.describe_snapshots(SnapshotIds=snapshots)["Snapshots"]:
        assert {t["Key"]: t["Value"] for t in snapshot["Tags"]} == tags
    (row,) = aws.list_images(ec2)
    assert row.id == image_id and row.steps == "detect,docker"


def test_untagged_amis_are_not_listed(moto: MotoServer) -> None:
    ec2 = moto.client("ec2")
    ec2.create_image(InstanceId=_instance(ec2), Name="someone-elses")
    assert aws.list_images(ec2) == []


def test_a_taken_name_is_a_one_line_error(moto: MotoServer) -> None:
    ec2 = moto.client("ec2")
    instance = _instance(ec2)
    aws.publish(ec2, instance, "cml-gpu-dup", {})
    with pytest.raises(CmlinfraError, match="cml-gpu-dup"):
        aws.publish(ec2, instance, "cml-gpu-dup", {})


def test_image_list_command_on_aws(moto: MotoServer, cli) -> None:  # type: ignore[no-untyped-def]
    ec2 = moto.client("ec2")
    image_id = aws.publish(ec2, _instance(ec2), "cml-gpu-cli", {})
    result = cli(
        "--json", "image", "list", "--cloud", "aws", "--cloud-region", "us-east-1", env=moto.env
    )
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)["images"]] == [image_id]


def test_bake_refuses_a_taken_ami_name_before_any_builder(moto: MotoServer, cli) -> None:  # type: ignore[no-untyped-def]
    ec2 = moto.client("ec2")
    image_id = aws.publish(ec2, _instance(ec2), "cml-gpu-taken", {})
    instances = ec2.describe_instances()["Reservations"]
    result = cli(
        "image",
        "bake",
        "--cloud",
        "aws",
        "--cloud-region",
        "us-east-1",
        "--name",
        "cml-gpu-taken",
        env=moto.env,
    )
    assert result.returncode == 2
    assert f"already exists ({image_id})" in result.stderr
    assert ec2.describe_instances()["Reservations"] == instances  # no builder was started
