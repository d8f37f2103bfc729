"""Finding 6: "SSH not open to the world" was a string compare. ``0.0.0.0/1`` passed the CLI;
``::0/0`` and ``0.0.0.0/00`` passed the Terraform module and the Packer template.

One parsing validator (:func:`cmlinfra.clouds.validate.ssh_cidr`) serves every command and
cloud; the aws/network module and the Packer template apply the same rule in HCL, checked by
real Terraform (1.11.4, 1.0.3) and real Packer. The rule: at most a /16 of public IPv4
addresses (/48 of IPv6); private ranges may be wider; more needs ``--allow-world-ssh``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.security.attacks import assert_refused

ROOT = Path(__file__).resolve().parents[2]
WORLD = ["0.0.0.0/0", "0.0.0.0/1", "0.0.0.0/00", "::0/0", "::/1", "128.0.0.0/1"]
TOO_WIDE = ["100.0.0.0/8", "8.0.0.0/15", "2001:db8::/32", "2000::/3", "::ffff:0:0/96"]
NARROW = ["203.0.113.7/32", "1.2.0.0/16", "2001:db8::/48", "2001:db8::7/128"]
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10", "192.168.0.0/16", "fd00::/8"]


@pytest.mark.parametrize("cidr", WORLD + TOO_WIDE)
def test_the_validator_refuses_wide_public_ranges(cidr: str) -> None:
    from cmlinfra.clouds.validate import ssh_cidr
    from cmlinfra.errors import UsageError

    with pytest.raises(UsageError):
        ssh_cidr(cidr)


@pytest.mark.parametrize("cidr", NARROW + PRIVATE)
def test_the_validator_accepts_narrow_or_private_ranges(cidr: str) -> None:
    from cmlinfra.clouds.validate import ssh_cidr

    assert ssh_cidr(cidr) == str(__import__("ipaddress").ip_network(cidr, strict=False))


# (command, cloud): every cloud renders a stack; runner launch and exec on the ones that
# create machines (their other clouds take the same request parsing)
COMMANDS = [("stack render", c) for c in ("aws", "azure", "gcp", "kubernetes", "lxd", "ssh")] + [
    (command, cloud) for command in ("runner launch", "exec") for cloud in ("aws", "lxd")
]


# each command and cloud with one of the spellings of the world (the validator sees them all)
CASES = [(*case, ["0.0.0.0/1", "::0/0", "0.0.0.0/00"][i % 3]) for i, case in enumerate(COMMANDS)]


@pytest.mark.parametrize(("command", "cloud", "cidr"), CASES)
def test_every_command_refuses_world_ssh(
    cli, tmp_path: Path, cloud: str, command: str, cidr: str
) -> None:
    env = {"CMLINFRA_HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    args = [*command.split(), "--cloud", cloud, "--name", "cmlt-cidr", "--ssh-cidr", cidr]
    if command == "exec":
        args += ["--", "true"]
    result = cli(*args, env=env)
    assert_refused(result, f"--ssh-cidr {cidr}", "--allow-world-ssh")
    assert not any(tmp_path.rglob("*")), "nothing may be created"


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "::0/0", "0.0.0.0/00"])
def test_image_bake_never_opens_its_builder_to_the_world(cli, tmp_path: Path, cidr: str) -> None:
    env = {"CMLINFRA_HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "xdg")}
    result = cli("image", "bake", "--cloud", "aws", "--name", "cmlt-img", "--ssh-cidr", cidr,
                 env=env)  # fmt: skip
    line = assert_refused(result, f"--ssh-cidr {cidr}", "build machine's own range")
    assert "--allow-world-ssh" not in line
    assert not any(tmp_path.rglob("*"))


def test_allow_world_ssh_uses_the_modules_own_switch(cli, cmlinfra_home: Path, moto) -> None:
    xenial = "099720109477:ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
    base = ["stack", "render", "--cloud", "aws", "--name", "cmlt-world", "--cloud-type", "m",
            "--cloud-region", "us-east", "--cloud-image", xenial,
            "--ssh-cidr", "0.0.0.0/0"]  # fmt: skip
    refused = cli(*base, env=moto.env)
    assert_refused(refused, "opens SSH to the whole internet")
    result = cli(*base, "--allow-world-ssh", env=moto.env)
    assert result.returncode == 0, result.stderr
    network = json.loads(result.stdout)["module"]["network"]
    assert network["allow_world_ssh"] is True and network["ssh_cidrs"] == []


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "::/0", "100.0.0.0/8"])
def test_a_given_security_group_open_to_a_wide_range_is_refused(
    cli, moto, tmp_path: Path, cidr: str
) -> None:
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    zone = sorted(z["ZoneName"] for z in zones)[0]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=zone)
    group = ec2.create_security_group(GroupName="wide", Description="wide", VpcId=vpc)["GroupId"]
    ranges = (
        {"Ipv6Ranges": [{"CidrIpv6": cidr}]} if ":" in cidr else {"IpRanges": [{"CidrIp": cidr}]}
    )
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, **ranges}],
    )
    xenial = "099720109477:ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
    result = cli(
        "stack", "render", "--cloud", "aws", "--name", "cmlt-sg", "--cloud-type", "m",
        "--cloud-region", "us-east", "--cloud-image", xenial,
        "--cloud-aws-subnet", subnet["Subnet"]["SubnetId"], "--cloud-aws-security-group", group,
        env={**moto.env, "CMLINFRA_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert_refused(result, f"security group {group} admits SSH (port 22) from")
    assert not (tmp_path / "home").exists()


NETWORK_MODULES = {  # each cloud's network module, with its other required variables
    "aws": {},
    "gcp": {},
    "azure": {"location": "eastus"},
}


def _plan_network(
    tf: Path, cidrs: list[str], work: Path, cloud: str = "aws"
) -> subprocess.CompletedProcess[str]:
    """A network module's variables.tf planned alone (no provider needed)."""
    shutil.copy(ROOT / f"terraform/modules/{cloud}/network/variables.tf", work / "variables.tf")
    values = {"name": "cmlt-net", "ssh_cidrs": cidrs, **NETWORK_MODULES[cloud]}
    (work / "v.tfvars.json").write_text(json.dumps(values))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TF_CLI_CONFIG_FILE": "/dev/null",
           "CHECKPOINT_DISABLE": "1"}  # fmt: skip
    for args in (["init", "-backend=false"], ["plan", "-lock=false", "-var-file=v.tfvars.json"]):
        done = subprocess.run(
            [str(tf), *args, "-input=false", "-no-color"],
            cwd=work, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            break
    return done


@pytest.mark.parametrize("cidr", WORLD + TOO_WIDE)
@pytest.mark.parametrize("cloud", sorted(NETWORK_MODULES))
def test_the_network_module_refuses_wide_public_ranges(
    terraform_latest, tmp_path: Path, cloud: str, cidr: str
) -> None:
    done = _plan_network(terraform_latest.path, [cidr], tmp_path, cloud)
    assert done.returncode != 0
    assert "set allow_world_ssh = true if you really mean it" in " ".join(done.stderr.split())


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "::0/0", "::ffff:0:0/96"])
def test_terraform_1_0_applies_the_same_rule(terraform_binary, tmp_path: Path, cidr: str) -> None:
    """cidrnetmask() accepts IPv6 on 1.0: the rule tells the families apart by their ':'."""
    done = _plan_network(terraform_binary.path, [cidr], tmp_path)
    assert done.returncode != 0
    assert "set allow_world_ssh = true if you really mean it" in " ".join(done.stderr.split())


@pytest.mark.parametrize("cloud", sorted(NETWORK_MODULES))
def test_the_network_module_accepts_narrow_and_private_ranges(
    terraform_binary, tmp_path: Path, cloud: str
) -> None:
    done = _plan_network(terraform_binary.path, NARROW + PRIVATE, tmp_path, cloud)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def packer_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("packer") / "packer"
    source = ROOT / "images" / "packer"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("plugins.*"))
    return target


@pytest.mark.parametrize(
    ("cidr", "accepted"),
    [(c, False) for c in WORLD + TOO_WIDE]
    + [(c, True) for c in ("203.0.113.7/32", "2001:db8::/48", "10.0.0.0/8", "fd00::/8")],
)
def test_the_packer_template_applies_the_same_rule(
    packer_template: Path, cidr: str, accepted: bool
) -> None:
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    isolate = ["unshare", "-n"] if probe.returncode == 0 else []
    done = subprocess.run(
        [*isolate, "packer", "validate", "-var", f"ssh_cidr={cidr}", "."],
        cwd=packer_template, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "CHECKPOINT_DISABLE": "1", "HOME": str(packer_template)},
    )  # fmt: skip
    assert (done.returncode == 0) is accepted, done.stdout + done.stderr
