"""The sweeper's AWS side on a real moto server: tagged EC2 instances and key pairs found
through boto3 alone, compared with a registry kept in (moto) S3.

The record teardown used here terminates through the same boto3 inventory: terraform cannot
run the AWS provider on this machine (no registry access), so the stack-destroy half of a
teardown is exercised on LXD in tests/runner/test_chaos_lxd.py instead.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cmlinfra.clouds.aws.inventory import AwsInventory
from cmlinfra.runner.gc import Sweeper
from cmlinfra.runner.records import LockInfo, RunnerRecord
from cmlinfra.runner.store import RunnerStore, open_store


@dataclass
class Aws:
    store: RunnerStore
    ec2: Any
    launch: Callable[..., str]
    state: Callable[[str], str]
    sweeper: Callable[..., Sweeper]


@pytest.fixture
def aws(moto):  # type: ignore[no-untyped-def]
    moto.client("s3").create_bucket(Bucket="state")
    store = open_store(f"s3://state/runners?region=us-east-1&endpoint={moto.endpoint}")
    ec2 = moto.client("ec2")
    image = "ami-03cf127a"  # one of moto's built-in images (listing them all takes 1 s)

    def launch(stack: str | None, expires: str = "", role: str = "runner") -> str:
        tags = [{"Key": "Name", "Value": stack or "unrelated"}]
        if stack is not None:
            tags.append({"Key": "cmlinfra:stack", "Value": stack})
            if role:
                tags.append({"Key": "cmlinfra-role", "Value": role})
            ec2.create_key_pair(
                KeyName=stack,
                TagSpecifications=[
                    {
                        "ResourceType": "key-pair",
                        "Tags": [{"Key": "cmlinfra:stack", "Value": stack}],
                    }
                ],
            )
        if expires:
            tags.append({"Key": "cmlinfra:expires", "Value": expires})
        reply = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )
        return str(reply["Instances"][0]["InstanceId"])

    def state(instance_id: str) -> str:
        reply = ec2.describe_instances(InstanceIds=[instance_id])
        return str(reply["Reservations"][0]["Instances"][0]["State"]["Name"])

    inventory = AwsInventory(regions=("us-east-1",))

    def teardown(record: RunnerRecord) -> None:
        for machine in inventory.machines():
            if machine.stack == record.name:
                inventory.delete(machine)
        store.delete(record.name)

    def sweeper(**kwargs) -> Sweeper:  # type: ignore[no-untyped-def]
        return Sweeper(store=store, inventories=[inventory], teardown=teardown, **kwargs)

    return Aws(store, ec2, launch, state, sweeper)


def kinds(findings) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return sorted((f.kind, f.name) for f in findings)


def test_tagged_instance_without_a_record_is_terminated_with_its_key_pair(aws) -> None:
    orphan = aws.launch("cml-orphan")
    unrelated = aws.launch(None)
    findings = aws.sweeper().find()
    assert kinds(findings) == [("orphan-machine", "cml-orphan")]
    assert findings[0].status == "found"
    assert aws.state(orphan) == "running"  # a report changes nothing
    fixed = aws.sweeper().fix(findings)
    assert [f.status for f in fixed] == ["fixed"]
    assert aws.state(orphan) == "terminated"
    assert aws.state(unrelated) == "running"
    assert aws.ec2.describe_key_pairs()["KeyPairs"] == []
    assert aws.sweeper().find() == []  # idempotent


def test_healthy_runner_is_left_alone(aws) -> None:
    aws.launch("cml-busy")
    aws.store.put(RunnerRecord(name="cml-busy", cloud="aws", phase="ready"))
    assert aws.sweeper().find() == []


def test_expired_runner_is_destroyed(aws) -> None:
    instance = aws.launch("cml-old", expires="2020-01-01T00:00:00Z")
    aws.store.put(
        RunnerRecord(name="cml-old", cloud="aws", phase="ready", expires=time.time() - 60)
    )
    findings = aws.sweeper().fix(aws.sweeper().find())
    assert [(f.kind, f.status) for f in findings] == [("expired", "fixed")]
    assert aws.state(instance) == "terminated"
    assert aws.store.get("cml-old") is None


def test_record_whose_machine_is_gone_is_forgotten(aws) -> None:
    instance = aws.launch("cml-gone")
    aws.ec2.terminate_instances(InstanceIds=[instance])
    aws.store.put(RunnerRecord(name="cml-gone", cloud="aws", phase="ready"))
    findings = aws.sweeper().fix(aws.sweeper().find())
    assert [(f.kind, f.status) for f in findings] == [("machine-gone", "fixed")]
    assert aws.store.names() == []


def test_dead_launchers_lock_and_half_launched_runner(aws) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a launcher that is gone
    holder = f"{socket.gethostname()}:{proc.pid}"
    instance = aws.launch("cml-half")
    aws.store.put(RunnerRecord(name="cml-half", cloud="aws", phase="launching", launcher=holder))
    aws.store.try_lock(LockInfo("cml-half", holder, "launch", time.time()))
    findings = aws.sweeper().find()
    assert kinds(findings) == [("abandoned", "cml-half"), ("stale-lock", "cml-half")]
    aws.sweeper().fix(findings)
    assert aws.state(instance) == "terminated"
    assert (aws.store.names(), aws.store.lock_names()) == ([], [])


def test_live_launcher_is_not_disturbed(aws) -> None:
    aws.launch("cml-new")
    aws.store.put(RunnerRecord(name="cml-new", cloud="aws", phase="launching"))
    aws.store.try_lock(LockInfo("cml-new", f"{socket.gethostname()}:{1}", "launch", time.time()))
    assert aws.sweeper().find() == []  # pid 1 is alive: the lock is held


def test_old_lock_from_another_host_is_stale(aws) -> None:
    aws.store.try_lock(LockInfo("cml-x", "elsewhere:42", "launch", time.time() - 7200))
    assert kinds(aws.sweeper(lock_max_age=3600).find()) == [("stale-lock", "cml-x")]
    assert aws.sweeper(lock_max_age=3 * 3600).find() == []


def test_prefix_limits_the_sweep(aws) -> None:
    aws.launch("team-a-1")
    aws.launch("team-b-1")
    assert kinds(aws.sweeper(prefix="team-a-").find()) == [("orphan-machine", "team-a-1")]


def test_failed_teardown_still_stops_the_machine_and_the_sweep_goes_on(aws) -> None:
    broken = aws.launch("cml-broken")
    orphan = aws.launch("cml-orphan")
    aws.store.put(RunnerRecord(name="cml-broken", cloud="aws", phase="failed"))

    def failing(record: RunnerRecord) -> None:
        raise RuntimeError("terraform destroy failed: state is corrupt")

    sweeper = Sweeper(aws.store, [AwsInventory(("us-east-1",))], teardown=failing)
    findings = {f.kind: f for f in sweeper.fix(sweeper.find())}
    assert findings["abandoned"].status == "failed"
    assert "state is corrupt" in findings["abandoned"].error
    assert findings["orphan-machine"].status == "fixed"
    assert aws.state(broken) == aws.state(orphan) == "terminated"
    assert aws.store.get("cml-broken") is not None  # kept: the next sweep retries


def test_machines_no_registry_records_go_only_once_expired(aws) -> None:
    """`stack apply`'s machine, a running bake's builder and an untagged machine have no
    record by design: gc leaves them (and says so) until their expiry tag has passed."""
    later = str(int(time.time()) + 3600)
    applied = aws.launch("cml-applied", expires=later, role="stack")
    builder = aws.launch("cml-bake-1", expires=later, role="image-builder")
    untagged = aws.launch("cml-untagged", role="")
    done = aws.launch("cml-done", expires=str(int(time.time()) - 600), role="stack")
    sweeper = aws.sweeper()
    findings = sweeper.fix(sweeper.find())
    assert [(f.kind, f.name, f.status) for f in findings] == [
        ("expired-machine", "cml-done", "fixed")
    ]
    assert "role stack, expired 10 min ago" in findings[0].detail
    assert aws.state(done) == "terminated"
    assert aws.state(applied) == aws.state(builder) == aws.state(untagged) == "running"
    left = sorted(sweeper.skipped)
    assert [line.split()[1] for line in left] == ["cml-applied", "cml-bake-1", "cml-untagged"]
    assert "role image-builder, not expired yet" in left[1]
    assert "no cmlinfra-role tag, no expiry" in left[2]
