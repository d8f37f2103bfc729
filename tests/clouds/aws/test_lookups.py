"""The pre-Terraform look-ups against a real moto server (and loopback HTTP servers)."""

from __future__ import annotations

import time

import pytest

from cmlinfra.clouds import shared
from cmlinfra.clouds.aws import hostkeys, lookups
from cmlinfra.errors import CmlinfraError, UsageError
from tests.clouds.echo import EchoServer
from tests.fixtures.moto import MotoServer

REGION = "us-east-1"
# moto ships these Canonical images (owner 099720109477) in every region.
XENIAL = "ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"


def test_ami_by_owner_and_name(moto_read: MotoServer) -> None:
    image = lookups.find_ami(lookups.ec2_client(REGION), REGION, "099720109477", XENIAL)
    assert image["OwnerId"] == "099720109477"
    assert image["Name"].startswith("ubuntu/images/hvm-ssd/ubuntu-xenial-16.04")


def test_ami_lookup_is_limited_to_the_owner(moto_read: MotoServer) -> None:
    """The same name under another owner is not found: no look-alike public image."""
    client = lookups.ec2_client(REGION)
    with pytest.raises(UsageError, match=r"no image named .* owned by 137112412989"):
        lookups.find_ami(client, REGION, "137112412989", XENIAL)


def test_own_image_found_by_name_and_by_id(moto: MotoServer) -> None:
    client = moto.client("ec2")
    base = lookups.find_ami(client, REGION, "099720109477", XENIAL)["ImageId"]
    instance = client.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]
    ami = client.create_image(InstanceId=instance["InstanceId"], Name="cml-runner-2026-11")
    found = lookups.find_ami(lookups.ec2_client(REGION), REGION, "self", "cml-runner-*")
    assert found["ImageId"] == ami["ImageId"]
    assert lookups.image_by_id(client, REGION, ami["ImageId"])["Name"] == "cml-runner-2026-11"
    with pytest.raises(UsageError, match="image ami-0123456789abcdef0 does not exist"):
        lookups.image_by_id(client, REGION, "ami-0123456789abcdef0")


def test_instance_type_facts_and_unknown_type(moto_read: MotoServer) -> None:
    client = lookups.ec2_client(REGION)
    facts = lookups.describe_type(client, REGION, "g5.xlarge")
    assert facts == {"vcpus": 4, "memory_gib": 16.0, "gpu": "a10g", "gpu_count": 1}
    assert lookups.describe_type(client, REGION, "m5.2xlarge")["gpu"] is None
    with pytest.raises(UsageError, match=r"EC2 has no instance type 'm5\.huge'"):
        lookups.describe_type(client, REGION, "m5.huge")


def test_offered_zones(moto_read: MotoServer) -> None:
    zones = lookups.offered_zones(lookups.ec2_client(REGION), REGION, "g4dn.xlarge")
    assert zones and all(z.startswith(REGION) for z in zones)
    assert lookups.offered_zones(lookups.ec2_client(REGION), REGION, "nope.large") == []


def test_spot_price_from_the_api(moto_read: MotoServer) -> None:
    client = lookups.ec2_client(REGION)
    zones = lookups.offered_zones(client, REGION, "g4dn.xlarge")
    price = lookups.spot_price(client, REGION, "g4dn.xlarge", zones)
    assert price is not None and price > 0


def test_default_subnet_is_in_an_offered_zone(moto_read: MotoServer) -> None:
    client = lookups.ec2_client(REGION)
    vpc_id, subnet_id = lookups.default_subnet(client, REGION, [f"{REGION}b"]) or ("", "")
    subnet = moto_read.client("ec2").describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
    assert subnet["VpcId"] == vpc_id and subnet["AvailabilityZone"] == f"{REGION}b"
    assert lookups.default_subnet(client, REGION, ["us-east-1zz"]) is None


def test_no_default_vpc_means_the_module_creates_one(moto: MotoServer) -> None:
    ec2 = moto.client("ec2", region="eu-north-1")
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])[
            "Subnets"
        ]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert lookups.default_subnet(lookups.ec2_client("eu-north-1"), "eu-north-1", []) is None


def test_launcher_address_from_an_echo_service(echo_ip: EchoServer) -> None:
    assert shared.launcher_cidr(echo_ip.url) == "203.0.113.9/32"
    echo_ip.answer = "2001:db8::7\n"
    assert shared.launcher_cidr(echo_ip.url) == "2001:db8::7/128"
    assert echo_ip.requests == 2


def test_launcher_address_url_from_the_environment(
    echo_ip: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shared.PUBLIC_IP_ENV, echo_ip.url)
    assert shared.launcher_cidr() == "203.0.113.9/32"


def test_launcher_address_failures_are_one_line(echo_ip: EchoServer, closed_port_url: str) -> None:
    echo_ip.answer = "<html>not an address</html>"
    with pytest.raises(CmlinfraError, match=r"could not learn .* --ssh-cidr"):
        shared.launcher_cidr(echo_ip.url)
    with pytest.raises(CmlinfraError, match="could not learn"):
        shared.launcher_cidr(closed_port_url, timeout=2)


def test_reachable_and_unreachable_endpoint(
    moto_read: MotoServer, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups.check_reachable(REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url)
    start = time.monotonic()
    with pytest.raises(CmlinfraError) as caught:
        lookups.check_reachable(REGION)
    assert f"cannot reach the AWS EC2 API at {closed_port_url}" in caught.value.line()
    assert time.monotonic() - start < 30, "a dead endpoint must not hang the launcher"


def test_missing_credentials(
    moto_read: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    with pytest.raises(CmlinfraError, match="no AWS credentials found"):
        lookups.check_reachable(REGION)


CONSOLE = """\
[   12.345678] cloud-init[812]: Cloud-init v. 24.1 running 'modules:final'
ec2: #############################################################
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----
ec2: 256 SHA256:abc root@ip-10-42-0-5 (ECDSA)
ec2: -----END SSH HOST KEY FINGERPRINTS-----
ec2: #############################################################
-----BEGIN SSH HOST KEY KEYS-----\r
ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= root@ip-10-42-0-5\r
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldKey root@ip-10-42-0-5\r
-----END SSH HOST KEY KEYS-----\r
[   13.0] reboot: Power down
-----BEGIN SSH HOST KEY KEYS-----
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewKey root@ip-10-42-0-5
-----END SSH HOST KEY KEYS-----
"""


def test_host_keys_from_console_output_take_the_last_block() -> None:
    assert hostkeys.host_keys_from_console(CONSOLE) == (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINewKey",
    )
    first = CONSOLE.split("[   13.0]")[0]
    assert hostkeys.host_keys_from_console(first) == (
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOldKey",
    )
    assert hostkeys.host_keys_from_console("no keys yet") == ()


def test_console_without_keys_gives_none_after_the_deadline(moto: MotoServer) -> None:
    """moto's console output never has the block (no cloud-init): the call must give up."""
    client = moto.client("ec2")
    base = lookups.find_ami(client, REGION, "099720109477", XENIAL)["ImageId"]
    instance = client.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]
    assert hostkeys.console_host_keys(REGION, instance["InstanceId"], wait_s=0) == ()
