"""``cmlinfra gc`` and ``cmlinfra runner list`` as CI runs them: subprocesses, real moto."""

from __future__ import annotations

import json
import time

import pytest

from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import open_store


def test_gc_reports_then_fixes_an_orphan_instance_and_is_idempotent(cli, moto) -> None:
    moto.client("s3").create_bucket(Bucket="state")
    ec2 = moto.client("ec2")
    tags = [
        {"Key": "cmlinfra:stack", "Value": "cml-lost"},
        {"Key": "cmlinfra-role", "Value": "runner"},
    ]
    instance = ec2.run_instances(
        ImageId="ami-03cf127a",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]["InstanceId"]
    state = f"s3://state/ci?region=us-east-1&endpoint={moto.endpoint}"
    args = ("--json", "gc", "--state", state, "--cloud", "aws", "--no-forge")

    report = cli(*args, env=moto.env)
    assert report.returncode == 0, report.stderr
    found = json.loads(report.stdout)["findings"]
    assert [(f["kind"], f["name"], f["status"]) for f in found] == [
        ("orphan-machine", "cml-lost", "found")
    ]

    fixed = cli(*args, "--yes", env=moto.env)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["fixed"] == 1
    reply = ec2.describe_instances(InstanceIds=[instance])
    assert reply["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"

    again = cli(*args, "--yes", env=moto.env)
    assert json.loads(again.stdout)["findings"] == []


def test_gc_without_a_region_is_a_one_line_error(cli, tmp_path) -> None:
    result = cli("gc", "--state", str(tmp_path), "--cloud", "aws", "--no-forge")
    assert result.returncode == 1
    assert result.stderr.strip() == "cmlinfra: error: no AWS region to sweep; pass --region REGION"


def test_runner_list_shows_age_expiry_and_cost(cli, tmp_path) -> None:
    now = time.time()
    store = open_store(str(tmp_path))
    store.put(
        RunnerRecord(
            name="cml-gpu",
            cloud="aws",
            instance_type="g5.xlarge",
            phase="ready",
            created=now - 7200,
            expires=now + 3600,
            hourly_price=1.006,
            last_activity=now - 120,
            region="us-east-1",
            spot=True,
            attempts=[
                {"region": "us-west-1", "outcome": "capacity"},
                {"region": "us-east-1", "outcome": "launched"},
            ],
        )
    )
    store.put(RunnerRecord(name="cml-local", cloud="lxd", instance_type="s", created=now - 30))
    text = cli("runner", "list", "--state", str(tmp_path))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == [
        "NAME",
        "CLOUD",
        "REGION",
        "TYPE",
        "SCOPE",
        "PHASE",
        "AGE",
        "IDLE",
        "EXPIRES",
        "IN",
        "COST",
        "TRIED",
    ]
    assert lines[1].split()[:6] == ["cml-gpu", "aws", "us-east-1", "g5.xlarge(spot)", "-", "ready"]
    assert lines[1].split()[6] in {"2h00m", "2h01m"}
    assert lines[1].endswith("$2.01  2")  # landed on the second candidate it tried
    assert lines[2].split()[-3:] == ["never", "-", "-"]
    rows = json.loads(cli("--json", "runner", "list", "--state", str(tmp_path)).stdout)["runners"]
    assert rows[0]["cost_so_far_usd"] == pytest.approx(2.012, abs=0.01)
    assert rows[0]["idle_seconds"] >= 120
    assert rows[0]["spot"] is True and rows[0]["attempts"][0]["outcome"] == "capacity"


def _launch(cli, forge_repo, state, *extra: str):  # type: ignore[no-untyped-def]
    repo = forge_repo("github", "acme/ml")
    args = ["--json", "runner", "launch", "--cloud", "lxd", "--state", str(state), "--labels"]
    forge = ["--driver", "github", "--repo", f"{repo.server.url}/acme/ml"]
    return repo, cli(*args, "cml,gpu", *forge, "--token", repo.server.token, *extra)


def test_reuse_returns_a_ready_runner_with_every_label(cli, forge, forge_repo, tmp_path) -> None:
    """As CML: the runner must carry all the labels asked for (here cml and gpu)."""
    store = open_store(str(tmp_path))
    at = f"{forge.url}/acme/ml"
    labels = ["gpu", "cml", "big"]
    store.put(
        RunnerRecord("cml-warm", "lxd", phase="ready", labels=labels, forge="github", repo=at)
    )
    _, result = _launch(cli, forge_repo, tmp_path, "--reuse")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert (reply["name"], reply["reused"]) == ("cml-warm", True)


@pytest.mark.parametrize(
    ("forge_name", "path", "reused"),
    [
        ("github", "acme/other", False),  # another repository's runner, same shared registry
        ("gitlab", "acme/ml", False),  # another forge
        ("github", "acme", True),  # the organization's pool serves acme/ml
        ("github", "ACME/ML", True),  # GitHub names are case-insensitive
        ("github", "acme/ml-two", False),
    ],
)
def test_reuse_takes_only_a_runner_that_serves_this_repository(
    cli, forge, tmp_path, forge_name: str, path: str, reused: bool
) -> None:
    store = open_store(str(tmp_path))
    at = f"{forge.url}/{path}"
    store.put(
        RunnerRecord("cml-warm", "lxd", phase="ready", labels=["gpu"], forge=forge_name, repo=at)
    )
    forge.state.add_repo("github", "acme/ml")
    args = ["--json", "runner", "launch", "--cloud", "lxd", "--state", str(tmp_path), "--reuse"]
    args += ["--labels", "gpu", "--driver", "github", "--repo", f"{forge.url}/acme/ml"]
    result = cli(*args, "--token", forge.token, "--cloud-type", "nonsense")
    if reused:
        assert json.loads(result.stdout)["name"] == "cml-warm", result.stderr
    else:  # not reused: it went on to check a new machine's request
        assert result.returncode == 2 and "unknown size 'nonsense'" in result.stderr


def test_reuse_idle_needs_the_forge_to_report_it_idle(cli, forge_repo, tmp_path) -> None:
    store = open_store(str(tmp_path))
    repo = forge_repo("github", "acme/ml")
    at = f"{repo.server.url}/acme/ml"
    store.put(
        RunnerRecord("cml-warm", "lxd", phase="ready", labels=["cml"], forge="github", repo=at)
    )
    repo.driver().runner_registration(name="cml-warm", labels=["cml"], jit=True)
    repo.set_runner("cml-warm", status="online", busy=False)
    forge = ["--driver", "github", "--repo", f"{repo.server.url}/acme/ml"]
    args = ["--json", "runner", "launch", "--cloud", "lxd", "--state", str(tmp_path)]
    args += ["--reuse-idle", *forge]
    idle = cli(*args, "--token", repo.server.token)
    assert json.loads(idle.stdout)["reused"] is True, idle.stderr
    repo.set_runner("cml-warm", status="online", busy=True)
    busy = cli(*args, "--token", repo.server.token, "--cloud-type", "nonsense")
    assert busy.returncode == 2  # not reused: it went on to check a new machine's request
    assert "unknown size 'nonsense'" in busy.stderr


def test_idle_timeout_never_needs_an_end(cli, forge_repo, tmp_path) -> None:
    _, result = _launch(cli, forge_repo, tmp_path, "--idle-timeout", "never")
    assert result.returncode == 2
    assert "--idle-timeout never without --single or --max-ttl" in result.stderr
    assert open_store(str(tmp_path)).names() == []


def test_reuse_asks_the_forge_not_only_the_registry(cli, forge_repo, tmp_path) -> None:
    """CML's --reuse: an online runner at the forge with every label — launched by anyone, in
    no registry here — is reused; nothing is created."""
    repo = forge_repo("github", "acme/ml")
    repo.driver().runner_registration(name="by-hand", labels=["cml", "gpu", "x"], jit=True)
    repo.set_runner("by-hand", status="online", busy=True)
    args = ["--json", "runner", "launch", "--cloud", "lxd", "--state", str(tmp_path)]
    args += ["--labels", "cml,gpu", "--driver", "github", "--repo", f"{repo.server.url}/acme/ml"]
    result = cli(*args, "--token", repo.server.token, "--reuse", "--cloud-type", "nonsense")
    assert result.returncode == 0, result.stderr
    assert (json.loads(result.stdout)["name"], json.loads(result.stdout)["reused"]) == (
        "by-hand",
        True,
    )
    assert open_store(str(tmp_path)).names() == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--count", "2", "--reuse"), "--reuse and --reuse-idle pick one existing runner"),
        (("--count", "65"), "--count 65 is out of range"),
        # NAME-1 is one character too long for a hostname: refused before any machine exists
        (("--count", "2", "--name", "r" * 62), "is not a valid hostname"),
        (("--count", "2", "--cloud-type", "nonsense"), "unknown size 'nonsense'"),
        (("--count", "2", "--cloud", ""), "--count launches machines; without --cloud"),
    ],
)
def test_a_count_launch_refuses_bad_input_before_anything_exists(
    cli, forge_repo, tmp_path, cmlinfra_home, extra: tuple[str, ...], message: str
) -> None:
    _, result = _launch(cli, forge_repo, tmp_path, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    store = open_store(str(tmp_path))
    assert (store.names(), store.lock_names()) == ([], [])
    assert not list(cmlinfra_home.glob("stacks/*"))
