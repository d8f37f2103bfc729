"""``cmlinfra stack render --cloud aws`` as a CI step runs it, against moto.

``stack plan``/``apply`` stop at ``terraform init`` here: the AWS provider cannot be
downloaded on these machines (docs/aws.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.clouds.aws.test_cloud import XENIAL
from tests.fixtures.cli import CliRunner
from tests.fixtures.moto import MotoServer

ARGS = ["--cloud", "aws", "--cloud-region", "us-east", "--cloud-image", XENIAL,
        "--ssh-cidr", "203.0.113.9/32"]  # fmt: skip


def test_render_an_aws_stack(cli: CliRunner, moto_read: MotoServer, tmp_path: Path) -> None:
    env = {**moto_read.env, "CMLINFRA_HOME": str(tmp_path)}
    result = cli(
        "stack", "render", "--name", "cml-cli", "--cloud-type", "m+t4", "--cloud-spot",
        "--cloud-metadata", "team=ml", *ARGS, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    runner = document["module"]["runner"]
    assert runner["instance_type"] == "g4dn.xlarge" and runner["spot"] is True
    assert runner["tags"] == {"team": "ml", "cmlinfra-role": "stack"}  # gc: no record expected
    assert "shutdown -P +1440" in runner["user_data"]
    assert document["provider"]["aws"][0]["region"] == "us-east-1"


def test_bad_input_leaves_nothing_behind(
    cli: CliRunner, moto_read: MotoServer, tmp_path: Path
) -> None:
    env = {**moto_read.env, "CMLINFRA_HOME": str(tmp_path)}
    for bad, message in [
        (["--cloud-type", "s+t4"], "size 's' has no t4 GPU on AWS"),
        (["--cloud-type", "m", "--cloud-region", "mars-1"], "unknown AWS region 'mars-1'"),
        (["--cloud-type", "m", "--cloud-spot", "--cloud-spot-price", "lots"], "is not a price"),
    ]:
        result = cli("stack", "render", "--name", "cml-bad", *ARGS, *bad, env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert not any(tmp_path.rglob("cml-bad*")), "a refused request must leave no stack behind"


def test_unreachable_endpoint(cli: CliRunner, tmp_path: Path, closed_port_url: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_ENDPOINT_URL": closed_port_url, "CMLINFRA_HOME": str(tmp_path)}  # fmt: skip
    result = cli("stack", "render", "--name", "cml-dead", "--cloud-type", "m", *ARGS, env=env)
    assert result.returncode == 1
    assert f"cannot reach the AWS EC2 API at {closed_port_url}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not any(tmp_path.rglob("cml-dead*"))


def test_cloud_aws_subnet_reaches_the_network_module(
    cli: CliRunner, moto: MotoServer, tmp_path: Path
) -> None:
    """CML's --cloud-aws-subnet (and its CML_STACK_… form): checked against EC2, then the
    stack's network module uses it; it wins over $CMLINFRA_AWS_SUBNET_ID."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zone = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[0]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=zone)
    subnet_id = subnet["Subnet"]["SubnetId"]
    env = {**moto.env, "CMLINFRA_HOME": str(tmp_path),
           "CMLINFRA_AWS_SUBNET_ID": "subnet-0123456789abcdef0"}  # fmt: skip
    for how in (["--cloud-aws-subnet", subnet_id], ["--cloud-aws-subnet-id", subnet_id]):
        result = cli("stack", "render", "--name", "cml-subnet", "--cloud-type", "m", *ARGS, *how,
                     env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        network = json.loads(result.stdout)["module"]["network"]
        assert network["subnet_id"] == subnet_id
    by_env = cli("stack", "render", "--name", "cml-subnet", "--cloud-type", "m", *ARGS,
                 env={**env, "CML_STACK_CLOUD_AWS_SUBNET": subnet_id})  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout)["module"]["network"]["subnet_id"] == subnet_id


def test_unknown_subnet_is_one_line_before_anything_exists(
    cli: CliRunner, moto_read: MotoServer, tmp_path: Path
) -> None:
    env = {**moto_read.env, "CMLINFRA_HOME": str(tmp_path / "home")}
    state = str(tmp_path / "state")
    missing = "subnet-0123456789abcdef0"
    cases = [
        ("stack", "render", "--name", "cml-nosub", "--cloud-type", "m", *ARGS),
        ("runner", "launch", "--cloud", "aws", "--cloud-region", "us-east", "--cloud-image", XENIAL,
         "--name", "cml-nosub",
         "--state", state, "--driver", "github", "--repo", "https://github.com/acme/ml",
         "--token", "not-used-before-the-checks"),
    ]  # fmt: skip
    for args in cases:
        result = cli(*args, "--cloud-aws-subnet", missing, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            f"cmlinfra: error: subnet {missing} does not exist in us-east-1; "
            "check --cloud-aws-subnet"
        ]
    bad = cli(*cases[0], "--cloud-aws-subnet", "my-subnet", env=env)
    assert bad.returncode == 2 and "--cloud-aws-subnet 'my-subnet' is not a subnet id" in bad.stderr
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert left == [], "a refused request must leave no stack, key or runner record behind"


def test_cloud_aws_security_group_replaces_the_stacks_own(
    cli: CliRunner, moto: MotoServer, tmp_path: Path, closed_port_url: str
) -> None:
    """CML's --cloud-aws-security-group: the user's group, checked against EC2 (exists, in the
    subnet's VPC, SSH not open to the internet), attached instead of the network module's; the
    launcher's address is not looked up (the public-IP service here is a closed port)."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zone = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[0]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=zone)
    subnet_id = subnet["Subnet"]["SubnetId"]

    def group(name: str, vpc_id: str, cidr: str) -> str:
        group_id = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)
        ec2.authorize_security_group_ingress(
            GroupId=group_id["GroupId"],
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                            "IpRanges": [{"CidrIp": cidr}]}],
        )  # fmt: skip
        return str(group_id["GroupId"])

    mine = group("ours", vpc, "203.0.113.0/24")
    world = group("world", vpc, "0.0.0.0/0")
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    elsewhere = group("elsewhere", default_vpc["Vpcs"][0]["VpcId"], "203.0.113.0/24")
    env = {**moto.env, "CMLINFRA_HOME": str(tmp_path / "home"),
           "CMLINFRA_PUBLIC_IP_URL": closed_port_url}  # fmt: skip
    no_cidr = ARGS[: ARGS.index("--ssh-cidr")]
    base = ["stack", "render", "--name", "cml-sg", "--cloud-type", "m", *no_cidr,
            "--cloud-aws-subnet", subnet_id]  # fmt: skip

    result = cli(*base, "--cloud-aws-security-group", mine, env=env)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout)["module"]
    assert set(modules) == {"runner"}, "no network module, so no group of our own"
    assert modules["runner"]["security_group_ids"] == [mine]
    assert modules["runner"]["subnet_id"] == subnet_id

    for given, message in [
        (world, f"security group {world} admits SSH (port 22) from the whole internet"),
        (elsewhere, f"security group {elsewhere} is in {default_vpc['Vpcs'][0]['VpcId']}"),
        ("sg-0123456789abcdef0", "security group sg-0123456789abcdef0 does not exist"),
        ("web", "--cloud-aws-security-group 'web' is not a security group id"),
    ]:
        refused = cli(*base[:2], "--name", "cml-sg-bad", *base[4:],
                      "--cloud-aws-security-group", given, env=env)  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert not any((tmp_path / "home").rglob("cml-sg-bad*"))

    # without --cloud-aws-subnet: the default VPC's subnet, so a group of the default VPC fits
    default = cli(*base[:-2], "--cloud-aws-security-group", elsewhere, env=env)
    assert default.returncode == 0, default.stderr
    runner = json.loads(default.stdout)["module"]["runner"]
    assert runner["security_group_ids"] == [elsewhere]
    assert runner["subnet_id"].startswith("subnet-") and runner["subnet_id"] != subnet_id


def test_a_stack_that_was_never_applied_is_destroyed_without_terraform(
    cli: CliRunner, moto_read: MotoServer, tmp_path: Path, closed_port_url: str
) -> None:
    """``stack render`` then ``stack destroy``: nothing was created, so the directory goes
    without ``terraform init`` (which cannot install the AWS provider here) and without asking
    the cloud (its endpoint is dead by then)."""
    env = {**moto_read.env, "CMLINFRA_HOME": str(tmp_path)}
    rendered = cli("stack", "render", "--name", "cml-never", "--cloud-type", "m", *ARGS, env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "stacks" / "cml-never" / "metadata.json").is_file()
    dead = {**env, "AWS_ENDPOINT_URL": closed_port_url}
    result = cli("--json", "stack", "destroy", "--name", "cml-never", env=dead)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "name": "cml-never", "cloud": "aws", "destroyed": True, "applied": False,
    }  # fmt: skip
    assert "terraform init" not in result.stderr
    assert not (tmp_path / "stacks" / "cml-never").exists()
    text = cli("stack", "render", "--name", "cml-never2", "--cloud-type", "m", *ARGS, env=env)
    assert text.returncode == 0, text.stderr
    said = cli("stack", "destroy", "--name", "cml-never2", env=dead)
    assert said.returncode == 0, said.stderr
    assert (
        said.stdout.strip()
        == "cml-never2: never applied, nothing to destroy; removed its directory"
    )


def test_a_failed_plan_of_a_fresh_stack_leaves_nothing(
    cli: CliRunner, moto_read: MotoServer, tmp_path: Path
) -> None:
    """``terraform init`` cannot install the AWS provider here, so the plan fails after the
    stack directory and its key pair were written: they are removed again."""
    env = {**moto_read.env, "CMLINFRA_HOME": str(tmp_path)}
    result = cli("stack", "plan", "--name", "cml-noplan", "--cloud-type", "m", *ARGS, env=env)
    assert result.returncode == 1, result.stderr
    assert "hashicorp/aws" in result.stderr
    assert not (tmp_path / "stacks" / "cml-noplan").exists()
    assert not any(tmp_path.rglob("id_ed25519*"))
