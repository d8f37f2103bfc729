"""``runner launch`` and ``exec`` take the machine options ``stack`` takes, and they reach the
cloud: ``--ssh-cidr`` against a real moto server (the AWS provider cannot be installed here, so
an apply stops at ``terraform init``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clouds.aws.test_cloud import XENIAL
from tests.fixtures.cli import CliRunner
from tests.fixtures.moto import MotoServer, free_port

AWS = ["--cloud", "aws", "--cloud-region", "us-east", "--cloud-image", XENIAL]


def _one_line(result, expected: str, code: int) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_launch_passes_ssh_cidr_to_the_cloud(
    cli: CliRunner, moto: MotoServer, forge, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A range open to the world is the AWS cloud's refusal, not "No such option"."""
    env = {**moto.env, "CMLINFRA_HOME": str(tmp_path / "home")}
    state = str(tmp_path / "registry")
    result = cli(
        "runner", "launch", "--name", "cml-cidr", "--state", state, *AWS,
        "--ssh-cidr", "0.0.0.0/0", "--driver", "github", "--repo", f"{forge.url}/acme/ml",
        "--token", forge.token, env=env,
    )  # fmt: skip
    _one_line(result, "--ssh-cidr 0.0.0.0/0 opens SSH to the whole internet", 2)
    assert not (tmp_path / "home" / "stacks" / "cml-cidr").exists()
    listed = cli("--json", "runner", "list", "--state", state, env=env)
    assert json.loads(listed.stdout)["runners"] == []


def test_exec_ssh_cidr_replaces_the_public_address_lookup(
    cli: CliRunner, moto: MotoServer, tmp_path: Path
) -> None:
    """With the "what is my address" service dead, exec needs --ssh-cidr; given, the request
    gets past every check to terraform, and the failed apply leaves nothing behind."""
    env = {
        **moto.env,
        "CMLINFRA_HOME": str(tmp_path / "home"),
        "CMLINFRA_PUBLIC_IP_URL": f"http://127.0.0.1:{free_port()}/",
    }
    state = str(tmp_path / "registry")
    args = ["exec", "--name", "cml-cidr", "--state", state, *AWS]
    without = cli(*args, "--", "true", env=env)
    _one_line(without, "pass the SSH source range with --ssh-cidr", 1)

    given = cli(*args, "--ssh-cidr", "203.0.113.9/32", "--", "true", env=env)
    assert given.returncode == 1, given.stderr
    assert "exec cml-cidr failed at step apply" in given.stderr
    assert given.stderr.count("synthesizing the stack") == 1, given.stderr  # rendered once
    assert "everything it created was destroyed" in given.stderr
    assert not (tmp_path / "home" / "stacks" / "cml-cidr").exists()
    listed = cli("--json", "runner", "list", "--state", state, env=env)
    assert json.loads(listed.stdout)["runners"] == []


@pytest.mark.parametrize("command", [["runner", "launch"], ["exec"]], ids=["runner launch", "exec"])
def test_cloud_ssh_is_refused_with_where_to_go(
    cli: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    """These commands create their machine and have no --host/--host-key: one line naming the
    commands that do take an existing machine, and nothing created."""
    env = {"CMLINFRA_HOME": str(tmp_path / "home")}
    tail = ["--", "true"] if command == ["exec"] else []
    result = cli(*command, "--cloud", "ssh", "--name", "cml-ssh", "--state",
                 str(tmp_path / "registry"), *tail, env=env)  # fmt: skip
    _one_line(result, "--cloud ssh is for a machine you already have", 2)
    assert "cmlinfra bootstrap HOST" in result.stderr
    assert "cmlinfra stack apply --cloud ssh" in result.stderr
    assert not (tmp_path / "home").exists() and not (tmp_path / "registry").exists()


@pytest.mark.parametrize("command", [["runner", "launch"], ["exec"]])
def test_help_does_not_offer_the_ssh_cloud(cli: CliRunner, command: list[str]) -> None:
    result = cli(*command, "--help", env={"COLUMNS": "1000"})  # the whole help on one line
    line = next(line for line in result.stdout.splitlines() if "--cloud " in line)
    offered, _, elsewhere = line.partition("An existing machine:")
    assert "aws (EC2 instances)" in offered and "lxd (local containers)" in offered
    assert "ssh" not in offered.replace("k8s", "")
    assert "'cmlinfra stack apply --cloud ssh'" in elsewhere, line
