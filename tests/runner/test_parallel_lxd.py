"""Four launchers at once sharing one registry and Terraform state backend in (moto) S3, as
parallel CI jobs do, plus a fifth that races one of them for the same name; then another job,
with none of their local files, destroys them all from the registry alone."""

from __future__ import annotations

import json

import pytest

from cmlinfra.runner.store import open_store
from tests.runner.conftest import containers, wait_until

pytestmark = pytest.mark.lxd


def test_four_parallel_runners_share_one_s3_state(lifecycle, moto, cli) -> None:
    lc = lifecycle
    moto.client("s3").create_bucket(Bucket="ci-state")
    lc.state = f"s3://ci-state/runners?region=us-east-1&endpoint={moto.endpoint}&lock=lockfile"
    lc.extra_env.update(moto.env)
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
