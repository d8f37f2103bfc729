"""``cmlinfra stack render --cloud azure`` as a CI step runs it, against the ARM fake.

``stack plan``/``apply`` stop at ``terraform init`` here: the azurerm provider cannot be
downloaded on these machines (docs/azure.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.azure import Arm
from tests.fixtures.cli import CliRunner

ARGS = ["--cloud", "azure", "--cloud-region", "us-east", "--ssh-cidr", "203.0.113.9/32"]


def test_render_an_azure_stack(cli: CliRunner, arm: Arm, tmp_path: Path) -> None:
    env = {**arm.env, "CMLINFRA_HOME": str(tmp_path)}
    result = cli(
        "stack", "render", "--name", "cml-cli", "--cloud-type", "m+t4", "--cloud-spot",
        "--cloud-spot-price", "0.3", "--cloud-metadata", "team=ml", *ARGS, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    network, runner = document["module"]["network"], document["module"]["runner"]
    assert runner["vm_size"] == "Standard_NC4as_T4_v3" and runner["spot"] is True
    assert runner["max_bid_price"] == 0.3
    assert runner["resource_group_id"] == "${module.network.resource_group_id}"
    assert network["location"] == "eastus" and network["ssh_cidrs"] == ["203.0.113.9/32"]
    tags = network["tags"]
    assert tags["team"] == "ml" and tags["cmlinfra-role"] == "stack"  # gc: no record expected
    assert tags["cmlinfra:stack"] == "cml-cli" and tags["cmlinfra:expires"]
    assert "shutdown -P +1440" in runner["custom_data"]
    provider = document["provider"]["azurerm"][0]
    assert provider["subscription_id"] == arm.state.subscription
    assert document["terraform"]["required_providers"]["azurerm"]["source"] == "hashicorp/azurerm"
    assert set(document["output"]) >= {"address", "vm_id", "resource_group_name"}
    assert not [r for r in arm.state.requests if r[0] != "GET"], "render creates nothing"


def test_cml_spelling_az_and_the_subnet_option(cli: CliRunner, arm: Arm, tmp_path: Path) -> None:
    """``--cloud az`` (CML's name) is Azure; ``--cloud-azure-subnet`` puts the NIC in a subnet
    the user already has (checked to exist in the location)."""
    env = {**arm.env, "CMLINFRA_HOME": str(tmp_path)}
    subnet = arm.state.add_subnet("shared-net", "vnet", "runners", "eastus")
    args = ["--cloud", "az", "--cloud-region", "us-east", "--ssh-cidr", "203.0.113.9/32"]
    result = cli(
        "stack", "render", "--name", "cml-az", "--cloud-type", "m", "--cloud-azure-subnet",
        subnet, *args, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["module"]["runner"]["vm_size"] == "Standard_F8s_v2"
    assert document["module"]["network"]["subnet_id"] == subnet
    result = cli("stack", "render", "--name", "cml-az2", "--cloud-type", "m",
                 "--cloud-aws-subnet", "subnet-0123abcd", *args, env=env)  # fmt: skip
    assert result.returncode == 2
    assert "--cloud-aws-subnet is an AWS option, not one of --cloud az" in result.stderr


def test_bad_input_leaves_nothing_behind(cli: CliRunner, arm: Arm, tmp_path: Path) -> None:
    env = {**arm.env, "CMLINFRA_HOME": str(tmp_path)}
    arm.state.set_quota("eastus", "StandardNCADSA100v4Family", 24, 24)
    for bad, message, code in [
        (["--cloud-type", "s+t4"], "size 's' has no t4 GPU on Azure", 2),
        (["--cloud-type", "m", "--cloud-region", "mars"], "unknown Azure location 'mars'", 2),
        (["--cloud-type", "m+k80"], "Standard_NC6 is not offered in eastus", 2),
        (["--cloud-type", "m+a100"], "not enough StandardNCADSA100v4Family vCPUs quota", 1),
    ]:
        result = cli("stack", "render", "--name", "cml-bad", *ARGS, *bad, env=env)
        assert result.returncode == code, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert lines[0].startswith("cmlinfra: error: ")
    assert not any(tmp_path.rglob("cml-bad*")), "a refused request must leave no stack behind"
    assert not [r for r in arm.state.requests if r[0] != "GET"]


def test_no_subscription_and_no_credentials(cli: CliRunner, arm: Arm, tmp_path: Path) -> None:
    env = {**arm.env, "CMLINFRA_HOME": str(tmp_path), "AZURE_SUBSCRIPTION_ID": ""}
    result = cli("stack", "render", "--name", "cml-nosub", "--cloud-type", "m", *ARGS, env=env)
    assert result.returncode == 1
    assert "no Azure subscription; set AZURE_SUBSCRIPTION_ID" in result.stderr
    env = {**arm.env, "CMLINFRA_HOME": str(tmp_path), "HOME": str(tmp_path),
           "IDENTITY_ENDPOINT": "", "IDENTITY_HEADER": "",
           "AZURE_TOKEN_CREDENTIALS": "EnvironmentCredential"}  # fmt: skip
    result = cli("stack", "render", "--name", "cml-nocred", "--cloud-type", "m", *ARGS, env=env)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "no Azure credentials found" in result.stderr
    assert not any(tmp_path.rglob("cml-no*"))


def test_gc_sweeps_stopped_expired_groups(cli: CliRunner, arm: Arm, tmp_path: Path) -> None:
    """A runner VM that powered off without deleting its group (no identity, say) is stopped
    and still bills: gc finds its group by cmlinfra's tags once it has expired, and deletes it."""
    tags = {"cmlinfra:stack": "cml-old", "cmlinfra:expires": "2020-01-01T00:00:00Z",
            "cmlinfra-role": "stack"}  # fmt: skip
    arm.state.add_vm("cml-old", "cml-old", "westus2", tags, power="stopped")
    arm.state.add_vm("cml-new", "cml-new", "westus2", {**tags, "cmlinfra:stack": "cml-new",
                     "cmlinfra:expires": "2999-01-01T00:00:00Z"})  # fmt: skip
    state = ["--state", str(tmp_path / "registry")]
    found = cli("gc", "--cloud", "azure", *state, "--no-forge", env=arm.env)
    assert found.returncode == 0, found.stderr
    assert "cml-old" in found.stdout and "would" in found.stdout
    assert "cml-new" not in found.stdout.replace("cml-new (", "")  # left until it expires
    fixed = cli("gc", "--cloud", "azure", *state, "--no-forge", "--yes", env=arm.env)
    assert fixed.returncode == 0, fixed.stderr
    arm.state.settle()
    assert set(arm.state.groups) == {"cml-new"}
