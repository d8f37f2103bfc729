"""The AWS cloud's harness: the EC2 API is a real moto server; machines are planted with
``run_instances`` carrying the tags the gpu-runner module sets. The Terraform AWS provider
cannot be installed here, so the rendered stack is checked against the modules' interfaces
instead of by ``terraform validate`` (tests/clouds/aws/ checks it against the provider schema).

The error texts are EC2's own, as users met them through Terraform and boto3 (each source a
public issue quoting the full message); tests/clouds/aws/test_errors.py classifies a real
``ClientError`` from moto as well."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest

from cmlinfra.clouds.aws.images import publish
from cmlinfra.clouds.aws.options import SUBNET
from cmlinfra.clouds.aws.tags import EXPIRES_TAG, ROLE_TAG, STACK_TAG
from cmlinfra.clouds.base import ErrorKind, MachineRequest, SweepScope
from tests.clouds.contract.kit import ErrorSample, Harness
from tests.fixtures.moto import MotoServer, free_port

XENIAL = "099720109477:ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
MOTO_AMI = "ami-03cf127a"  # one of moto's built-in images
GH = "https://github.com"

ERRORS = [
    ErrorSample(
        "Error: creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have "
        "sufficient m6i.xlarge capacity in the Availability Zone you requested (us-east-2a). Our "
        "system will be working on provisioning additional capacity. You can currently get "
        "m6i.xlarge capacity by not specifying an Availability Zone in your request or choosing "
        "us-east-2b, us-east-2c.",
        ErrorKind.CAPACITY,
        f"{GH}/red-hat-storage/ocs-ci/issues/9263 (terraform-provider-aws)",
    ),
    ErrorSample(
        "An error occurred (Unsupported) when calling the RunInstances operation: Your requested "
        "instance type (i4i.large) is not supported in your requested Availability Zone "
        "(us-east-1a). Please retry your request by not specifying an Availability Zone or "
        "choosing us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f.",
        ErrorKind.CAPACITY,
        f"{GH}/fedora-copr/copr/issues/2840 (boto3)",
    ),
    ErrorSample(
        "Error: creating EC2 Instance: VcpuLimitExceeded: You have requested more vCPU capacity "
        "than your current vCPU limit of 32 allows for the instance bucket that the specified "
        "instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to "
        "request an adjustment to this limit.",
        ErrorKind.QUOTA,
        f"{GH}/bentoml/bentoctl/issues/202 (terraform-provider-aws)",
    ),
    ErrorSample(
        "botocore.exceptions.ClientError: An error occurred (MaxSpotInstanceCountExceeded) when "
        "calling the RunInstances operation: Max spot instance count exceeded",
        ErrorKind.QUOTA,
        f"{GH}/meadowdata/meadowrun/issues/84 (boto3)",
    ),
    ErrorSample(
        "An error occurred (SpotMaxPriceTooLow) when calling the RunInstances operation: Your "
        "Spot request price of 0.001 is lower than the minimum required Spot request fulfillment "
        "price of 0.0374.",
        ErrorKind.SPOT_PRICE,
        f"{GH}/aws/aws-parallelcluster-node/pull/415 (boto3)",
    ),
    ErrorSample(
        "Error: Error launching source instance: UnauthorizedOperation: You are not authorized "
        "to perform this operation. Encoded authorization failure message: p1EyykaD2fI3csh",
        ErrorKind.AUTH,
        f"{GH}/asquarezone/TerraformZone/issues/1 (terraform-provider-aws; message cut)",
    ),
    ErrorSample(
        "AWS refused checking the EC2 API: AuthFailure; check the credentials and that their "
        "policy allows ec2:Describe*",
        ErrorKind.AUTH,
        "cmlinfra/clouds/aws/lookups.py aws_errors() for EC2's AuthFailure code",
    ),
    ErrorSample(
        "Error: Error launching source instance: InvalidParameterValue: The requested instance "
        "type's architecture (x86_64) does not match the architecture in the manifest for "
        "ami-053eed19246a58e8a (arm64)",
        ErrorKind.BAD_REQUEST,
        f"{GH}/terraform-aws-modules/terraform-aws-ec2-instance/issues/157 (terraform)",
    ),
    ErrorSample(
        "An error occurred (RequestLimitExceeded) when calling the DescribeImages operation "
        "(reached max retries: 4): Request limit exceeded.",
        ErrorKind.TRANSIENT,
        f"{GH}/zalando-stups/senza/issues/561 (boto3)",
    ),
    ErrorSample(
        'Error: Unsupported argument\n  on main.tf line 6, in module "machine":\n   6:   '
        'spot_max_prize = "1"\nAn argument named "spot_max_prize" is not expected here.',
        ErrorKind.BAD_REQUEST,
        "terraform 1.11.4 validate here, 2026-12-04, on a misspelt module argument",
    ),
]


@pytest.fixture(scope="module")
def aws_harness(moto_server: MotoServer) -> Harness:
    prefix = f"cmlc-{secrets.token_hex(2)}-"
    ec2 = moto_server.client("ec2")

    def plant(stack: str, role: str, expires: float | None) -> str:
        tags = [{"Key": STACK_TAG, "Value": stack}, {"Key": ROLE_TAG, "Value": role}]
        if expires is not None:
            stamp = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            tags.append({"Key": EXPIRES_TAG, "Value": stamp})
        reply = ec2.run_instances(
            ImageId=MOTO_AMI,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        return str(reply["Instances"][0]["InstanceId"])

    def plant_image(name: str) -> str:
        return publish(ec2, plant(f"{prefix}img", "image-builder", None), name, {})

    def address_case() -> tuple[dict[str, object], tuple[str, ...]]:
        """moto's console output has no cloud-init block: no trusted key, so none at all."""
        instance = plant(f"{prefix}addr", "stack", None)
        outputs = {"address": "203.0.113.10", "instance_id": instance, "region": "us-east-1"}
        return {**outputs, "ssh_user": "ubuntu", "ssh_port": 22}, ()

    def request(**kw: object) -> MachineRequest:
        base = {"name": f"{prefix}render", "region": "us-east", "image": XENIAL}
        return MachineRequest(**{**base, "ssh_cidr": "203.0.113.9/32", **kw})  # type: ignore[arg-type]

    return Harness(
        cloud="aws",
        prefix=prefix,
        request=request(),
        bad=[
            (request(hdd_size_gb=2), "--cloud-hdd-size 2 is out of range"),
            (request(region="mars"), "unknown AWS region 'mars'"),
            (request(options={SUBNET.flag: "sub-1"}), "--cloud-aws-subnet 'sub-1' is not a"),
            (request(spot_price=0.3), "--cloud-spot-price needs --cloud-spot"),
        ],
        inject=lambda text: request(name=f"{prefix}inject", metadata={"note": text}),
        errors=ERRORS,
        plant=plant,
        scope=SweepScope(regions=("us-east-1",)),
        image_region="us-east-1",
        plant_image=plant_image,
        terraform_validates=False,  # no AWS provider binary here
        address_case=address_case,
        env={**moto_server.env, "CMLINFRA_AWS_HOST_KEY_WAIT": "0"},
        down={"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"},
    )
