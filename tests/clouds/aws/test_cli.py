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
    assert runner["tags"] == {"team": "ml"}
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
