"""Finding 1: user values reached ``stack.tf.json`` as Terraform templates, so
``${file("~/.ssh/id_ed25519")}`` in a host, a label or a tag was evaluated on the launcher.

The composer now writes every module variable and provider value literally, for every cloud.
Proven with real Terraform (1.11.4 and 1.0.3) on the ssh module (no provider needed: plan,
apply, state and outputs) and the lxd module (a plan against the real LXD), and on the AWS
stack by walking the synthesized JSON (its provider cannot run here). The CLI also refuses
such values outright where they cannot be legitimate (an SSH host, user or host key).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.base import MachineRequest, ResolvedMachine, StackSpec
from cmlinfra.clouds.modules import module_path
from cmlinfra.clouds.ssh.cloud import SshCloud
from cmlinfra.stack.compose import synthesize
from tests.security.attacks import assert_refused, configuration_expressions

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ5bMgD0aRVMZgTmHHkf0PcgbEFf8Rsd3h7ZeuQD8mH"
XENIAL = "099720109477:ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"


@pytest.fixture
def canary(tmp_path: Path) -> tuple[Path, str]:
    """A file whose content must never show up: what ``${file(...)}`` would read."""
    secret = "canary-5c1e7d0a93b4"
    path = tmp_path / "id_canary"
    path.write_text(secret)
    return path, secret


def payloads(path: Path) -> list[str]:
    return [
        f'${{file("{path}")}}',
        f'%{{ for l in [file("{path}")] }}${{l}}%{{ endfor }}',
        f'$${{file("{path}")}}',  # already "escaped": still literal, one level only
        "trailing $ and % and $$ and %%",
    ]


def test_the_composer_writes_every_value_literally(tmp_path: Path, canary) -> None:
    """Whatever nests where (lists, maps, map keys, provider blocks), only a Ref is an
    expression: the invariant every cloud (also one added later) gets from the composer."""
    from cmlinfra.clouds.base import Ref

    path, _ = canary
    evil = payloads(path)
    variables: dict[str, Any] = {
        "host": evil[0],
        "labels": {evil[0]: evil[1], "plain": evil[2]},
        "list": [evil[3], {"deep": [evil[0]]}, Ref("module.other.out")],
        "number": 3,
        "flag": True,
        "nothing": None,
    }
    spec = StackSpec(
        name="cmlt-literal",
        cloud="ssh",
        modules={"host": (module_path("ssh", "host"), variables)},
        providers={"fake": {"tags": {"k": evil[1]}}},
        required_providers={},
        outputs={"address": "module.host.address"},
    )
    document = json.loads(synthesize(spec, tmp_path / "work").read_text())
    assert configuration_expressions(document) == []
    assert document["module"]["host"]["list"][2] == "${module.other.out}"
    assert document["output"]["address"]["value"] == "${module.host.address}"


def _ssh_machine(**values: str) -> ResolvedMachine:
    """An ssh-cloud machine as if the CLI had let the values through (it does not)."""
    request = MachineRequest(name="cmlt-inject", host="192.0.2.10")
    machine = SshCloud().resolve(dataclasses.replace(request, host_key=HOST_KEY))
    request = dataclasses.replace(machine.request, **values)
    extra = {"host_key": values.get("host_key", HOST_KEY)}
    return dataclasses.replace(machine, request=request, extra=extra)


def _terraform(binary: Path, workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(binary), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        env={"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ssh_values_survive_literally_into_plan_and_state(
    tmp_path: Path, terraform_binary, canary
) -> None:
    path, secret = canary
    evil = payloads(path)
    machine = _ssh_machine(host=evil[0], user=evil[1], host_key=evil[2])
    spec = SshCloud().stack(machine, PUBKEY)
    workdir = tmp_path / "work"
    stack = synthesize(spec, workdir)
    tf = terraform_binary.path
    _terraform(tf, workdir, "init", "-input=false", "-no-color")
    _terraform(tf, workdir, "plan", "-input=false", "-no-color", "-out=tfplan")
    plan = _terraform(tf, workdir, "show", "-json", "tfplan")
    _terraform(tf, workdir, "apply", "-input=false", "-no-color", "tfplan")
    outputs = json.loads(_terraform(tf, workdir, "output", "-json"))
    state = (workdir / "terraform.tfstate").read_text()
    for text in (plan, state, json.dumps(outputs)):
        assert secret not in text  # nothing was evaluated
    assert outputs["address"]["value"] == evil[0]
    assert outputs["ssh_user"]["value"] == evil[1]
    assert outputs["host_key"]["value"] == evil[2]
    assert outputs["instance_id"]["value"] == f"{evil[1]}@{evil[0]}:22"
    assert configuration_expressions(json.loads(stack.read_text())) == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--host", '${file("/etc/hostname")}'),
        ("--user", '${file("/etc/hostname")}'),
        ("--host-key", 'ssh-ed25519 ${file("/etc/hostname")}'),
        ("--host", "gpu1\nexample.com"),
        ("--user", "root\n"),
    ],
)
def test_ssh_cli_refuses_values_that_are_not_hosts_users_or_keys(
    cli, cmlinfra_home: Path, option: str, value: str
) -> None:
    args = {"--host": "192.0.2.10", "--user": "ci", "--host-key": HOST_KEY, option: value}
    flat = [item for pair in args.items() for item in pair]
    result = cli("stack", "render", "--cloud", "ssh", "--name", "cmlt-inject", *flat)
    assert_refused(result, option if option != "--host-key" else "host key")
    assert not (cmlinfra_home / "stacks").exists()  # nothing created


@pytest.mark.lxd
def test_lxd_label_is_a_literal_in_the_plan(
    lxd, cli, cmlinfra_home: Path, canary, terraform_binary
) -> None:
    """A label value is free text: it is kept, and Terraform plans it as the text itself."""
    path, secret = canary
    evil = payloads(path)[0]
    name = lxd.name(f"inject{terraform_binary.version.replace('.', '')}")
    result = cli(
        "--json", "stack", "plan", "--cloud", "lxd", "--name", name,
        "--cloud-metadata", f"team={evil}", "--terraform", str(terraform_binary.path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    workdir = cmlinfra_home / "stacks" / name / "terraform"
    shown = subprocess.run(
        [str(terraform_binary.path), "show", "-json", "tfplan"],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert secret not in shown.stdout
    [change] = [
        c for c in json.loads(shown.stdout)["resource_changes"] if c["type"] == "lxd_container"
    ]
    assert change["change"]["after"]["config"]["user.team"] == evil
    assert not lxd.exists(name)  # planned only


def test_aws_tags_are_literal_in_module_and_provider(
    cli, cmlinfra_home: Path, moto, canary
) -> None:
    """The AWS provider cannot run here: the synthesized JSON is walked instead. The CI's
    repository name reaches the tags (module and provider default_tags) unchecked: it must
    come out literally; a --cloud-metadata value with ${ is not an EC2 tag value at all."""
    path, secret = canary
    evil = payloads(path)[0]
    base = ["stack", "render", "--cloud", "aws", "--name", "cmlt-inject", "--cloud-type", "m",
            "--cloud-region", "us-east", "--ssh-cidr", "203.0.113.9/32",
            "--cloud-image", XENIAL]  # fmt: skip
    refused = cli(*base, "--cloud-metadata", f"team={evil}", env=moto.env)
    assert_refused(refused, "--cloud-metadata", "EC2 tag value")
    env = {**moto.env, "GITHUB_REPOSITORY": f"acme/{evil}"}
    result = cli(*base, env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert configuration_expressions(document) == []
    escaped = f"github.com/acme/{evil}".replace("${", "$${")
    assert document["module"]["runner"]["owner_repo"] == escaped
    provider_tags = document["provider"]["aws"][0]["default_tags"]["tags"]
    assert provider_tags["cmlinfra:repo"] == escaped
    assert document["module"]["runner"]["subnet_id"] == "${module.network.subnet_id}"
    assert secret not in result.stdout


def test_no_cloud_writes_an_expression_as_a_string() -> None:
    """Every cloud (also one added later) references another module's output with ``Ref``: a
    ``"${module.x.y}"`` string would now reach Terraform as that text, not the value."""
    import re

    clouds = Path(__file__).resolve().parents[2] / "cmlinfra" / "clouds"
    found = [
        f"{path.relative_to(clouds)}:{number}"
        for path in sorted(clouds.glob("*/*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"[\"']\$\{module\.", line)
    ]
    assert found == []
