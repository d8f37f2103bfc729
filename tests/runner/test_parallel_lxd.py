"""Four launchers at once sharing one registry and Terraform state backend in (moto) S3, as
parallel CI jobs do, plus a fifth that races one of them for the same name; then another job,
with none of their local files, destroys them all from the registry alone."""

from __future__ import annotations

import base64
import json
import signal

import pytest

from cmlinfra.runner.store import open_store
from tests.runner.conftest import containers, wait_until

pytestmark = pytest.mark.lxd


def test_four_parallel_runners_share_one_s3_state(lifecycle, moto, cli) -> None:
    lc = lifecycle
    moto.client("s3").create_bucket(Bucket="ci-state")
    lc.state = f"s3://ci-state/runners?region=us-east-1&endpoint={moto.endpoint}&lock=lockfile"
    lc.extra_env.update(moto.env)
    trace = lc.home.parent / "trace.jsonl"
    lc.extra_env["CMLINFRA_TRACE"] = str(trace)
    names = [f"{lc.prefix}p{i}" for i in range(4)]
    procs = [lc.popen(*lc.launch_args(n, "--single", "--idle-timeout", "1h")) for n in names]
    # The rival starts once the first launcher owns the name (S3's conditional write is what
    # makes owning atomic; moto's emulation of it is not, and test_store covers the race).
    store = open_store(lc.state)
    wait_until(lambda: store.get(names[0]) is not None, 120, "the first launcher's record")
    rival = lc.popen(*lc.launch_args(names[0], "--single", "--idle-timeout", "1h"))
    results = [p.communicate(timeout=400) for p in procs]
    rival_out, rival_err = rival.communicate(timeout=400)

    errors = [err[-2000:] for (out, err) in results if not out.strip()]
    assert sorted(json.loads(out)["name"] for out, _ in results if out.strip()) == names, errors
    # each launcher holds its name, finds the S3 state empty and applies in one terraform run
    spans = [json.loads(line)["span"] for line in trace.read_text().splitlines()]
    assert "terraform plan" not in spans and "terraform show" not in spans
    assert spans.count("terraform state pull") >= 4 and spans.count("terraform apply") == 4
    del lc.extra_env["CMLINFRA_TRACE"]
    assert rival.returncode == 1 and not rival_out.strip()
    refusal = rival_err.strip().splitlines()[-1]
    assert f"{names[0]!r}" in refusal and ("locked by" in refusal or "already exists" in refusal)

    listed = json.loads(cli("--json", "runner", "list", "--state", lc.state, env=lc.env()).stdout)
    assert sorted(r["name"] for r in listed["runners"]) == names
    assert containers(lc.prefix) == names and lc.runners() == names

    lc.home = lc.home.parent / "another-ci-job"  # no stack directories: only the registry
    destroyed = cli(
        "runner", "destroy", "--all", "--state", lc.state, *lc.forge_args(), env=lc.env()
    )
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    assert containers(lc.prefix) == [] and lc.runners() == []
    keys = moto.client("s3").list_objects_v2(Bucket="ci-state").get("Contents", [])
    assert [k["Key"] for k in keys] == []  # records, locks and Terraform states all gone
    assert store.names() == []


def test_count_launches_all_or_none(lifecycle, cli) -> None:
    """``runner launch --count``: every name is checked before anything exists; one runner
    failing tears every runner of the launch down; then a launch where all come up, each an
    ordinary runner of its own."""
    lc = lifecycle
    base = f"{lc.prefix}n"
    single = ("--single", "--idle-timeout", "1h")

    # NAME-2 is taken by a stack of that name: refused before any machine or record exists
    taken = cli("stack", "render", "--cloud", "lxd", "--name", f"{base}-2", env=lc.env())
    assert taken.returncode == 0, taken.stderr[-2000:]
    refused = cli(*lc.launch_args(base, *single, "--count", "3"), env=lc.env())
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert f"a stack named '{base}-2' already exists" in refused.stderr
    store = open_store(lc.state)
    assert (containers(lc.prefix), lc.runners(), store.names(), store.lock_names()) == (
        [],
        [],
        [],
        [],
    )
    assert cli("stack", "destroy", "--name", f"{base}-2", env=lc.env()).returncode == 0

    # the startup script fails on NAME-2 only: every runner of the launch is torn down
    fail_on_2 = base64.b64encode(b'case "$(hostname)" in *-2) echo broken >&2; exit 3;; esac\n')
    failed = cli(
        *lc.launch_args(base, *single, "--count", "2", "--cloud-startup-script",
                        fail_on_2.decode()),
        env=lc.env(),
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr[-2000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert f"{base}-2 failed at step bootstrap" in last
    assert "every runner of this --count launch was torn down" in last
    assert (containers(lc.prefix), lc.runners(), store.names(), store.lock_names()) == (
        [],
        [],
        [],
        [],
    )

    launched = cli(*lc.launch_args(base, *single, "--count", "2"), env=lc.env())
    assert launched.returncode == 0, launched.stderr[-3000:]
    names = [f"{base}-1", f"{base}-2"]
    runners = json.loads(launched.stdout)["runners"]
    assert [r["name"] for r in runners] == names
    assert all(r["phase"] == "ready" and r["timings"]["total"] > 0 for r in runners)
    assert containers(lc.prefix) == names and lc.runners() == names
    destroyed = cli(
        "runner", "destroy", f"{base}-2", "--state", lc.state, *lc.forge_args(), env=lc.env()
    )
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    assert containers(lc.prefix) == [f"{base}-1"] and lc.runners() == [f"{base}-1"]
    rest = cli("runner", "destroy", "--all", "--state", lc.state, *lc.forge_args(), env=lc.env())
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert containers(lc.prefix) == [] and store.names() == []


def test_a_cancelled_count_launch_tears_every_runner_down(lifecycle) -> None:
    """SIGTERM (a cancelled CI job) while both runners run their startup script: the
    bring-ups are interrupted in their threads and both machines are destroyed."""
    lc = lifecycle
    base = f"{lc.prefix}c"
    hold = base64.b64encode(b"echo holding; sleep 600\n").decode()
    proc = lc.popen(
        *lc.launch_args(base, "--single", "--count", "2", "--cloud-startup-script", hold)
    )
    assert proc.stderr is not None
    holding = set()
    while len(holding) < 2:  # each bring-up is in its startup step, over SSH
        line = proc.stderr.readline()
        assert line, "the launcher ended before both runners reached their startup script"
        if line.strip().endswith("] holding"):
            holding.add(line.split("]")[0].lstrip("["))
    assert holding == {f"{base}-1", f"{base}-2"}
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    assert not out.strip()
    assert "cancelled" in err.strip().splitlines()[-1]
    store = open_store(lc.state)
    assert (containers(lc.prefix), lc.runners(), store.names(), store.lock_names()) == (
        [], [], [], []
    )  # fmt: skip
