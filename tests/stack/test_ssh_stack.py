"""``--cloud ssh`` end to end through real terraform (no provider needed): apply records the
existing machine, show reports it, destroy forgets it."""

from __future__ import annotations

import json
from pathlib import Path

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ5bMgD0aRVMZgTmHHkf0PcgbEFf8Rsd3h7ZeuQD8mH"


def test_ssh_stack_lifecycle(cli, cmlinfra_home: Path, terraform_binary) -> None:
    name = f"cmlt-ssh-{terraform_binary.version.replace('.', '')}"
    common = ["--name", name, "--terraform", str(terraform_binary.path)]
    target = ["--cloud", "ssh", "--host", "192.0.2.10", "--port", "2222", "--user", "ci"]
    result = cli("--json", "stack", "apply", *common, *target, "--host-key", f"{HOST_KEY} x@y")
    assert result.returncode == 0, result.stderr
    address = json.loads(result.stdout)["address"]
    assert address == {
        "host": "192.0.2.10",
        "port": 2222,
        "user": "ci",
        "instance_id": "ci@192.0.2.10:2222",
        "host_keys": [HOST_KEY],
    }
    shown = json.loads(cli("--json", "stack", "show", "--name", name).stdout)
    assert shown["status"] == "applied" and shown["cloud"] == "ssh"
    private = (cmlinfra_home / "stacks" / name / "id_ed25519").read_text()
    assert private not in result.stdout + result.stderr
    listed = cli("stack", "show")
    assert listed.stdout.split() == [name]
    result = cli("stack", "destroy", "--name", name, "--terraform", str(terraform_binary.path))
    assert result.returncode == 0, result.stderr
    assert not (cmlinfra_home / "stacks" / name).exists()


def test_ssh_render_and_plan(cli, cmlinfra_home: Path, terraform_latest) -> None:
    args = ["--name", "cmlt-ssh-plan", "--cloud", "ssh", "--host", "192.0.2.11"]
    args += ["--host-key", HOST_KEY, "--terraform", str(terraform_latest.path)]
    rendered = cli("stack", "render", *args)
    assert rendered.returncode == 0, rendered.stderr
    assert json.loads(rendered.stdout)["module"]["host"]["host"] == "192.0.2.11"
    planned = cli("--json", "stack", "plan", *args)
    assert planned.returncode == 0, planned.stderr
    result = json.loads(planned.stdout)
    assert result["hourly_price"] is None
    assert result["plan"]["create"] == 0


def test_state_in_s3(cli, cmlinfra_home: Path, terraform_binary, moto, tmp_path: Path) -> None:
    """``--state s3://…``: the engine's backend block, rendered for this binary, replaces the
    default local one in the composed stack, and the state lands in the bucket, not locally.
    ``stack apply`` holds no lock on the name, so another run may write that state at any
    time: it goes through a saved plan, whose apply refuses a state that changed meanwhile."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="cml-state")
    moto.client("dynamodb").create_table(
        TableName="cmlinfra-locks",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    name = f"cmlt-s3-{terraform_binary.version.replace('.', '')}"
    state = f"s3://cml-state/stacks?region=us-east-1&endpoint={moto.endpoint}"
    args = ["--name", name, "--terraform", str(terraform_binary.path), "--state", state]
    target = ["--cloud", "ssh", "--host", "192.0.2.12", "--host-key", HOST_KEY]
    trace = tmp_path / "trace.jsonl"
    result = cli("stack", "apply", *args, *target, env={**moto.env, "CMLINFRA_TRACE": str(trace)})
    assert result.returncode == 0, result.stderr
    spans = [json.loads(line)["span"] for line in trace.read_text().splitlines()]
    assert [s for s in spans if s.startswith("terraform ")] == [
        "terraform init", "terraform plan", "terraform show", "terraform state pull",
        "terraform apply", "terraform output",
    ]  # fmt: skip
    stack_file = cmlinfra_home / "stacks" / name / "terraform" / "stack.tf.json"
    assert list(json.loads(stack_file.read_text())["terraform"]["backend"]) == ["s3"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="cml-state").get("Contents", [])]
    assert keys == [f"stacks/{name}/terraform.tfstate"]
    assert not (stack_file.parent / "terraform.tfstate").exists()
    result = cli("stack", "destroy", "--name", name, env=moto.env)
    assert result.returncode == 0, result.stderr
