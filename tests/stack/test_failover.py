"""Failover at launch through the real CLI and real Terraform runs (docs/failover.md), on the
flaky test cloud (flakycloud/): its zones refuse a machine with the real words of EC2 and LXD,
after creating part of the stack, or the machine itself (a create the cloud half-did), or once
only (a transient error). What counts is what the cloud's API holds afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmlinfra.clouds import PLUGINS_ENV
from tests.fixtures.cli import CliRunner
from tests.stack.flakycloud import api

PLUGIN = "tests.stack.flakycloud"
# Real texts, as Terraform's providers print them (their sources: the contract harnesses)
CAPACITY = (  # EC2 via terraform-provider-aws (tests/clouds/contract/harness_aws.py)
    "Error: creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have "
    "sufficient g5.xlarge capacity in the Availability Zone you requested (us-west-2a)."
)
QUOTA = (  # EC2 via terraform-provider-aws (the same harness)
    "Error: creating EC2 Instance: VcpuLimitExceeded: You have requested more vCPU capacity "
    "than your current vCPU limit of 32 allows for the instance bucket that the specified "
    "instance type belongs to."
)
AUTH = (  # EC2 via terraform-provider-aws (the same harness)
    "Error: Error launching source instance: UnauthorizedOperation: You are not authorized to "
    "perform this operation."
)
TRANSIENT = (  # terraform-lxd 1.5.0 on LXD 5.0.2 under parallel creates (harness_lxd.py)
    "Could not upload file /root/.ssh/authorized_keys: dial unix "
    "/proc/self/fd/31/forkfile.sock: connect: no such file or directory"
)


@dataclass
class World:
    env: dict[str, str]
    home: Path

    def machines(self) -> list[str]:
        return sorted(m["id"] for m in api.items("machines"))

    def networks(self) -> list[str]:
        return sorted(n["id"] for n in api.items("networks"))

    def creates(self) -> list[str]:
        log = api.root() / "log.jsonl"
        lines = log.read_text().splitlines() if log.is_file() else []
        return [json.loads(line)["zone"] for line in lines if '"create"' in line]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    root = tmp_path / "flakyapi"
    root.mkdir()
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)
    monkeypatch.setenv(api.DIR_ENV, str(root))
    home = tmp_path / "home"
    monkeypatch.setenv("CMLINFRA_HOME", str(home))
    return World({PLUGINS_ENV: PLUGIN, api.DIR_ENV: str(root), "CMLINFRA_HOME": str(home)}, home)


def apply(cli: CliRunner, world: World, *args: str) -> tuple[int, dict, list[str]]:  # type: ignore[type-arg]
    done = cli(
        "--json", "stack", "apply", "--cloud", "flaky", "--name", "fo-x", *args, env=world.env
    )
    lines = done.stderr.strip().splitlines()
    return done.returncode, json.loads(done.stdout) if done.returncode == 0 else {}, lines


def test_refused_candidates_are_cleaned_up_and_the_next_is_tried(cli, world: World) -> None:
    api.zone("fz-a", refuse=CAPACITY, times=1)  # the network is created, the machine refused
    api.zone("fz-b", refuse=QUOTA, times=1, leak=True)  # the machine exists, terraform never knew
    code, out, lines = apply(cli, world, "--cloud-region", "fz-a,fz-b,fz-c")
    assert code == 0, "\n".join(lines)
    outcomes = [(a["region"], a["outcome"], a["tries"]) for a in out["attempts"]]
    assert outcomes == [("fz-a", "capacity", 1), ("fz-b", "quota", 1), ("fz-c", "launched", 1)]
    assert out["machine"] == {
        "cloud": "flaky",
        "region": "fz-c",
        "type": "m",
        "spot": False,
        "hourly_price": 0.1,
    }
    assert "InsufficientInstanceCapacity" in out["attempts"][0]["error"]
    # one line per attempt, with what comes next; the leaked machine found and deleted
    said = [line for line in lines if "→ trying" in line]
    assert len(said) == 2 and said[0].startswith("fz-a m: creating EC2 Instance: Insuff")
    assert said[0].endswith("→ trying fz-b m …") and said[1].endswith("→ trying fz-c m …")
    assert any("deleting flaky fo-x.fz-b (fz-b), left by it" in line for line in lines)
    assert world.machines() == ["fo-x.fz-c"] and world.networks() == ["fo-x.fz-c"]
    shown = json.loads(cli("--json", "stack", "show", "--name", "fo-x", env=world.env).stdout)
    assert [a["outcome"] for a in shown["attempts"]] == ["capacity", "quota", "launched"]
    assert cli("stack", "destroy", "--name", "fo-x", env=world.env).returncode == 0
    assert world.machines() == [] and world.networks() == []


def test_a_transient_error_is_retried_in_place(cli, world: World) -> None:
    api.zone("fz-a", refuse=TRANSIENT, times=1)
    code, out, lines = apply(cli, world, "--cloud-region", "fz-a,fz-b")
    assert code == 0, "\n".join(lines)
    assert [(a["region"], a["outcome"], a["tries"]) for a in out["attempts"]] == [
        ("fz-a", "launched", 2)
    ]
    assert world.creates() == ["fz-a", "fz-a"]  # the same candidate twice, never fz-b
    assert any("transient: Could not upload file" in line and "(2/3)" in line for line in lines)
    assert world.machines() == ["fo-x.fz-a"]
    assert cli("stack", "destroy", "--name", "fo-x", env=world.env).returncode == 0


def test_a_transient_error_on_a_single_candidate_is_retried_too(cli, world: World) -> None:
    """CML's single-region launch: the LXD file-push blip no longer fails it outright."""
    api.zone("fz-a", refuse=TRANSIENT, times=1)
    code, out, lines = apply(cli, world)
    assert code == 0, "\n".join(lines)
    assert out["attempts"][0]["tries"] == 2 and out["cloud"] == "flaky"
    assert cli("stack", "destroy", "--name", "fo-x", env=world.env).returncode == 0


def test_auth_fails_at_once_and_tries_nothing_else(cli, world: World) -> None:
    api.zone("fz-a", refuse=AUTH, times=1)
    code, _, lines = apply(cli, world, "--cloud-region", "fz-a,fz-b")
    assert code == 1
    assert lines[-1].startswith("cmlinfra: error: apply of stack fo-x failed: ")
    assert any(
        line.startswith("fz-a m: auth: Error launching source instance: Unauthor") for line in lines
    )
    assert world.creates() == ["fz-a"] and not any("→ trying" in line for line in lines)
    assert world.machines() == [] and world.networks() == []
    assert not (world.home / "stacks" / "fo-x").exists()


def test_every_candidate_refused_says_each_and_leaves_nothing(cli, world: World) -> None:
    for zone in ("fz-a", "fz-b", "fz-c"):
        api.zone(zone, refuse=CAPACITY, times=5, leak=zone == "fz-b")
    code, _, lines = apply(cli, world, "--cloud-region", "any")
    assert code == 1
    summary = lines[lines.index("no candidate could be launched (3 tried):") + 1 :]
    assert [line.split(":")[0].strip() for line in summary[:3]] == [
        "1. fz-a m ($0.1/h)",
        "2. fz-b m ($0.1/h)",
        "3. fz-c m ($0.1/h)",
    ]
    assert all(
        "capacity: creating EC2 Instance: InsufficientInstanceCapacity" in s for s in summary[:3]
    )
    assert summary[3].startswith("cmlinfra: error: none of the 3 candidate machines could be")
    assert len(summary) == 4  # one line per candidate, then the error
    assert world.creates() == ["fz-a", "fz-b", "fz-c"]
    assert world.machines() == [] and world.networks() == []
    assert not (world.home / "stacks" / "fo-x").exists()


def test_cheapest_first_spot_before_on_demand_and_the_cap(cli, world: World) -> None:
    """Prices from the look-ups order the candidates; --cloud-spot-price caps the on-demand
    ones of --cloud-spot auto; a candidate the look-up already refuses is never applied."""
    api.zone("fz-a", price=0.36)  # spot: a third of it
    api.zone("fz-b", price=0.09)
    api.zone("fz-c", lookup="m is not offered in us-west-1 (the flaky catalog)")
    args = ["--cloud-region", "fz-a,fz-b,fz-c", "--cloud-spot", "auto", "--cloud-spot-price", "0.2"]
    done = cli("stack", "render", "--cloud", "flaky", "--name", "fo-r", *args, env=world.env)
    assert done.returncode == 0, done.stderr
    order = next(line for line in done.stderr.splitlines() if "in the order" in line)
    assert order.endswith(": fz-b m spot, fz-b m, fz-a m spot")  # $0.03, $0.09, $0.12 an hour
    code, out, lines = apply(cli, world, *args)
    assert code == 0, "\n".join(lines)
    by_outcome = [(a["region"], a["spot"], a["outcome"]) for a in out["attempts"]]
    assert by_outcome == [
        ("fz-c", True, "capacity"),  # refused by the look-up: "is not offered in"
        ("fz-c", False, "capacity"),
        ("fz-a", False, "over_cap"),  # $0.36/h on demand is above the cap
        ("fz-b", True, "launched"),
    ]
    assert out["machine"]["hourly_price"] == 0.03 and world.creates() == ["fz-b"]
    assert cli("stack", "destroy", "--name", "fo-x", env=world.env).returncode == 0


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cloud-region", "fz-a,fz-b,nowhere"], "--cloud-region 'nowhere' is not a flaky zone"),
        (["--cloud-type", "m,l,xxl"], "unknown size 'xxl' for the flaky cloud"),
        (["--cloud-region", "fz-a,,fz-b"], "--cloud-region 'fz-a,,fz-b' has an empty item"),
        (["--cloud-type", "m,m"], "--cloud-type names 'm' twice"),
        (["--cloud-spot=sometimes"], "--cloud-spot 'sometimes' is not a spot choice"),
        (["--cloud", "flaky,lxd", "--cloud-spot"], "--cloud-spot is not supported by the lxd"),
    ],
)
def test_every_candidate_is_checked_before_anything_exists(
    cli, world: World, args: list[str], expected: str
) -> None:
    done = cli("stack", "apply", "--cloud", "flaky", "--name", "fo-bad", *args, env=world.env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert world.creates() == [] and not (world.home / "stacks").exists()


def test_the_list_options_read_their_cml_variables(cli, world: World) -> None:
    env = {**world.env, "CML_STACK_CLOUD_REGION": "fz-b,fz-a", "CML_STACK_CLOUD_SPOT": "auto"}
    done = cli("stack", "render", "--cloud", "flaky", "--name", "fo-env", env=env)
    assert done.returncode == 0, done.stderr
    order = next(line for line in done.stderr.splitlines() if "in the order" in line)
    assert order.endswith(": fz-b m spot, fz-a m spot, fz-b m, fz-a m")  # equal prices: as given
    bad = cli(
        "exec",
        "--cloud",
        "flaky",
        "--",
        "true",
        env={**world.env, "CML_EXEC_CLOUD_REGION": "fz-a,x"},
    )
    assert bad.returncode == 2 and "--cloud-region 'x' is not a flaky zone" in bad.stderr
