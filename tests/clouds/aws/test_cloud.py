"""AwsCloud end to end up to Terraform: resolve on moto, the StackSpec it builds checked
against the modules' own variables/outputs and the provider schema, and address().

Planning against the AWS provider is impossible here (no provider binary can be downloaded),
so the spec is checked structurally instead: every variable it passes is declared by the
module, every required one is passed, every output it reads exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cmlinfra.clouds.aws import make_cloud
from cmlinfra.clouds.aws.cloud import AwsCloud
from cmlinfra.clouds.base import Cloud, MachineRequest, Ref
from cmlinfra.errors import CmlinfraError, UsageError
from tests.clouds.echo import EchoServer
from tests.clouds.hclschema import load_snapshot, provider_block_problems
from tests.fixtures.moto import MotoServer

XENIAL = "099720109477:ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"


@pytest.fixture
def cloud(echo_ip: EchoServer) -> AwsCloud:
    return AwsCloud(public_ip_url=echo_ip.url, host_key_wait_s=0)


def request(**kw: Any) -> MachineRequest:
    base: dict[str, Any] = {"name": "cml-t1", "cloud_type": "m+t4", "region": "us-east"}
    base["image"] = XENIAL
    return MachineRequest(**{**base, **kw})


def module_interface(module: Path) -> tuple[set[str], set[str], set[str]]:
    """(all variables, required variables, outputs) of a module, parsed from its HCL."""
    variables = hcl2.loads((module / "variables.tf").read_text())["variable"]
    outputs = hcl2.loads((module / "outputs.tf").read_text())["output"]
    names = {k.strip('"'): v for item in variables for k, v in item.items()}
    required = {n for n, body in names.items() if "default" not in body}
    return set(names), required, {k.strip('"') for item in outputs for k in item}


def test_registry_factory_gives_a_cloud() -> None:
    cloud = make_cloud()
    assert isinstance(cloud, Cloud) and cloud.name == "aws"


def test_resolve_gpu_runner(moto_read: MotoServer, cloud: AwsCloud, echo_ip: EchoServer) -> None:
    machine = cloud.resolve(request(metadata={"team": "ml"}, hdd_size_gb=100))
    assert (machine.instance_type, machine.region) == ("g4dn.xlarge", "us-east-1")
    assert (machine.gpu, machine.gpu_count, machine.vcpus) == ("t4", 1, 4)
    assert machine.hourly_price == 0.526  # the committed on-demand table
    assert machine.image and machine.image.startswith("ami-")
    extra = machine.extra
    assert extra["ssh_cidr"] == "203.0.113.9/32" and echo_ip.requests == 1
    assert extra["subnet_id"].startswith("subnet-")  # the default VPC's
    assert extra["tags"] == {"team": "ml"} and extra["hdd_size_gb"] == 100
    assert "shutdown -P +1440" in extra["user_data"]


def test_stack_spec_fits_the_modules(moto_read: MotoServer, cloud: AwsCloud) -> None:
    machine = cloud.resolve(
        request(
            spot=True,
            spot_price=0.4,
            permission_set=("arn:aws:iam::123456789012:instance-profile/ml/cml-runner"),
        )
    )
    assert machine.hourly_price is not None and machine.hourly_price < 0.526  # moto's spot price
    assert machine.extra["price_source"] == "spot price history"
    spec = cloud.stack(machine, PUBKEY)
    assert spec.cloud == "aws" and set(spec.modules) == {"network", "runner"}
    for label, (module, variables) in spec.modules.items():
        declared, required, _ = module_interface(module)
        assert set(variables) <= declared, f"{label}: undeclared {set(variables) - declared}"
        assert required <= set(variables), f"{label}: missing {required - set(variables)}"
    runner = spec.modules["runner"][1]
    assert runner["spot"] is True and runner["spot_max_price"] == "0.40000"
    assert runner["instance_profile"] == "cml-runner"
    assert runner["subnet_id"] == Ref("module.network.subnet_id")
    assert spec.modules["network"][1]["ssh_cidrs"] == ["203.0.113.9/32"]
    _, _, runner_outputs = module_interface(spec.modules["runner"][0])
    for expression in spec.outputs.values():
        label, output = expression.removeprefix("module.").split(".")
        assert label == "runner" and output in runner_outputs
    assert {"address", "instance_id", "ssh_user", "ssh_port", "region"} <= set(spec.outputs)
    assert provider_block_problems(spec.providers["aws"], load_snapshot()) == []
    assert spec.providers["aws"]["region"] == "us-east-1"
    assert spec.providers["aws"]["default_tags"]["tags"]["cmlinfra:stack"] == "cml-t1"
    assert spec.required_providers["aws"]["source"] == "hashicorp/aws"


def test_no_secret_reaches_the_stack(
    moto_read: MotoServer, cloud: AwsCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever tokens the CI environment holds, none lands in variables or user data."""
    token = "ghp_S3cr3tTokenValue0123456789abcdefXYZ"
    for name in ("REPO_TOKEN", "GITHUB_TOKEN", "CML_TOKEN", "GITLAB_TOKEN"):
        monkeypatch.setenv(name, token)
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/repo")
    spec = cloud.stack(cloud.resolve(request()), PUBKEY)
    dumped = json.dumps([spec.modules, spec.providers, spec.outputs], default=str)
    assert token not in dumped
    assert spec.modules["runner"][1]["owner_repo"] == "github.com/org/repo"
    assert "PRIVATE KEY" not in dumped


def test_subnet_chosen_by_the_user(
    moto: MotoServer, cloud: AwsCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zone = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[0]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=zone)
    subnet_id = subnet["Subnet"]["SubnetId"]
    monkeypatch.setenv("CMLINFRA_AWS_SUBNET_ID", subnet_id)
    machine = cloud.resolve(request())
    assert (machine.extra["subnet_id"], machine.extra["vpc_id"]) == (subnet_id, vpc)
    assert cloud.stack(machine, PUBKEY).modules["network"][1]["subnet_id"] == subnet_id
    monkeypatch.setenv("CMLINFRA_AWS_SUBNET_ID", "subnet-0123456789abcdef0")
    with pytest.raises(UsageError, match="subnet subnet-0123456789abcdef0 does not exist"):
        cloud.resolve(request())
    monkeypatch.setenv("CMLINFRA_AWS_SUBNET_ID", "my-subnet")
    with pytest.raises(UsageError, match="is not a subnet id"):
        cloud.resolve(request())


def test_not_offered_in_region(moto_read: MotoServer, cloud: AwsCloud) -> None:
    with pytest.raises(UsageError, match=r"g5\.xlarge is not offered in us-west-1"):
        cloud.resolve(request(cloud_type="m+a10g", region="us-west"))


def test_retired_cml_type_is_a_one_line_error(moto_read: MotoServer, cloud: AwsCloud) -> None:
    """CML's k80 sizes map to p2, which EC2 no longer lists."""
    with pytest.raises(UsageError, match=r"EC2 has no instance type 'p2\.xlarge'"):
        cloud.resolve(request(cloud_type="m+k80"))


def test_spot_cap_below_market_is_refused(moto_read: MotoServer, cloud: AwsCloud) -> None:
    with pytest.raises(UsageError, match="below the current spot price"):
        cloud.resolve(request(spot=True, spot_price=0.000001))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"cloud_type": "xxl"}, "unknown --cloud-type"),
        ({"region": "mars-1"}, "unknown AWS region"),
        ({"gpu": "h100", "cloud_type": "m"}, "unknown GPU"),
        ({"cloud_type": "s+t4"}, "has no t4 GPU"),
        ({"spot_price": 0.3}, "--cloud-spot-price needs --cloud-spot"),
        ({"spot": True, "spot_price": -3.0}, "must be a positive price"),
        ({"hdd_size_gb": 2}, "--cloud-hdd-size 2 is out of range"),
        ({"ssh_cidr": "0.0.0.0/0"}, "opens SSH to the whole internet"),
        ({"ssh_cidr": "my-laptop"}, "is not a CIDR block"),
        ({"image": "evil:thing"}, "is not OWNER:NAME-PATTERN"),
        ({"permission_set": "arn:aws:iam::1:role/x"}, "is not an instance profile"),
        ({"metadata": {"aws:x": "y"}}, "is not a valid EC2 tag key"),
        ({"name": "bad_name!"}, "is not usable on AWS"),
        ({"max_ttl_seconds": 30}, "too short"),
    ],
)
def test_bad_input_fails_before_any_call(
    kw: dict[str, Any],
    message: str,
    cloud: AwsCloud,
    closed_port_url: str,
    echo_ip: EchoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the AWS endpoint dead, bad input must still be reported as itself."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    with pytest.raises(UsageError) as caught:
        cloud.resolve(request(**kw))
    assert message in caught.value.line() and "\n" not in caught.value.line()
    assert echo_ip.requests == 0


def test_unreachable_endpoint(
    cloud: AwsCloud, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(CmlinfraError, match="cannot reach the AWS EC2 API"):
        cloud.resolve(request())
    with pytest.raises(CmlinfraError, match="cannot reach the AWS EC2 API"):
        cloud.check_reachable("us-east")


def test_address_from_outputs(moto: MotoServer, cloud: AwsCloud) -> None:
    ec2 = moto.client("ec2")
    machine = cloud.resolve(request(cloud_type="m"))
    instance = ec2.run_instances(ImageId=machine.image, MinCount=1, MaxCount=1)["Instances"][0]
    outputs = {
        "address": "198.51.100.4",
        "instance_id": instance["InstanceId"],
        "ssh_user": "ubuntu",
        "ssh_port": 22,
        "region": "us-east-1",
    }
    address = cloud.address(outputs)
    assert (address.host, address.port, address.user) == ("198.51.100.4", 22, "ubuntu")
    assert address.instance_id == instance["InstanceId"]
    assert address.host_keys == ()  # moto's console has no cloud-init block
    with pytest.raises(CmlinfraError, match="outputs lack 'instance_id'"):
        cloud.address({"address": "198.51.100.4", "ssh_user": "u", "ssh_port": 22})


def test_a_zone_as_region_places_the_machine_in_that_zone(
    moto_read: MotoServer, cloud: AwsCloud, echo_ip: EchoServer
) -> None:
    """CML's ``--cloud-region us-east-1b`` (TPI reads a trailing letter as a zone)."""
    machine = cloud.resolve(request(region="us-east-1b"))
    assert machine.region == "us-east-1"
    assert machine.extra["availability_zone"] == "us-east-1b"
    with pytest.raises(UsageError, match="not offered in the zone us-east-1z"):
        cloud.resolve(request(region="us-east-1z"))
