"""``runner launch`` end to end on the real LXD cloud: real terraform, real sshd in the
container, the fake forge (every request validated against GitHub's OpenAPI description).

Stand-in: the GitHub runner agent cannot download here, so the machine runs
``agent-standin`` (``CMLINFRA_AGENT_STANDIN=1``) under the same systemd unit and
EnvironmentFile; jobs are simulated by running the real job-hook scripts as the agent's user,
exactly as the agent would (ACTIONS_RUNNER_HOOK_JOB_STARTED/COMPLETED).
"""

from __future__ import annotations

import base64
import json

import pytest

from cmlinfra.runner.store import open_store
from cmlinfra.runner.watchdog import LIB
from tests.runner.conftest import containers, files_holding, lxc, running, wait_until

pytestmark = pytest.mark.lxd


def launched(result) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout)
    assert record["phase"] == "ready"
    return record  # type: ignore[no-any-return]


def test_idle_and_single_runners_remove_themselves(lifecycle, cli) -> None:
    lc = lifecycle
    idle, single = f"{lc.prefix}idle", f"{lc.prefix}single"
    one = launched(cli(*lc.launch_args(idle, "--single", "--idle-timeout", "6s"), env=lc.env()))
    # CML's --cloud-startup-script: run as root, as a last bootstrap step
    startup = base64.b64encode(b"id -u >/root/startup-ran\n").decode()
    two = launched(
        cli(
            *lc.launch_args(single, "--single", "--idle-timeout", "1h"),
            *("--cloud-startup-script", startup),
            env=lc.env(),
        )
    )
    assert lxc("exec", single, "--", "cat", "/root/startup-ran").strip() == "0"
    assert set(one["timings"]) >= {"apply", "ssh wait", "bootstrap", "registration", "watchdog"}
    assert two["runner_id"] and lc.runners() == sorted([idle, single])

    # What is on the machine: the JIT config, root-only; never the user's token.
    secret = lxc("exec", single, "--", "stat", "-c", "%a %U", "/etc/cmlinfra/secrets/agent.env")
    assert secret.split() == ["600", "root"]
    assert files_holding(single, lc.forge.token) == []
    assert "active" in lxc("exec", single, "--", "systemctl", "is-active", "cmlinfra-agent")

    # One job on the --single runner, through the agent's hooks as the agent's user.
    for hook in ("job-started.sh", "job-completed.sh"):
        lxc("exec", single, "--", "runuser", "-u", "runner", "--", "bash", f"{LIB}/{hook}")
    wait_until(lambda: containers(lc.prefix) == [], 120, "both containers to delete themselves")

    # GitHub removes a used ephemeral runner itself; the fake forge does not, and nothing
    # removes an unused JIT runner but the sweeper: it unregisters both (machines gone).
    report = json.loads(cli(*lc.gc_args("--yes"), env=lc.env()).stdout)
    assert sorted((f["kind"], f["status"]) for f in report["findings"]) == [
        ("machine-gone", "fixed"),
        ("machine-gone", "fixed"),
    ]
    assert lc.runners() == []
    store = open_store(lc.state)
    assert (store.names(), store.lock_names()) == ([], [])


def test_max_ttl_ends_the_machine_after_the_launcher_is_killed(lifecycle, cli) -> None:
    lc = lifecycle
    name = f"{lc.prefix}ttl"
    proc = lc.popen(*lc.launch_args(name, "--single", "--idle-timeout", "1h", "--max-ttl", "25s"))
    try:
        # Killed once the machine runs: its boot arms the max TTL. (Killed earlier, mid-apply,
        # a container can be left created but never started — not running, and swept by gc:
        # tests/runner/test_chaos_lxd.py covers that.)
        wait_until(lambda: running(lc.prefix) == [name], 120, "the container to run")
    finally:
        lc.kill_job(proc)  # the whole CI job, terraform and its provider included
    wait_until(lambda: containers(lc.prefix) == [], 120, "the container to power itself off")

    report = cli(*lc.gc_args("--yes"), env=lc.env())
    assert report.returncode == 0, report.stderr
    kinds = {f["kind"] for f in json.loads(report.stdout)["findings"]}
    assert "stale-lock" in kinds
    assert kinds & {"abandoned", "expired"}  # which one depends on the TTL having passed
    store = open_store(lc.state)
    assert (store.names(), store.lock_names(), lc.runners()) == ([], [], [])
    again = json.loads(cli(*lc.gc_args(), env=lc.env()).stdout)
    assert again["findings"] == []


def test_bad_input_leaves_nothing_behind(lifecycle, cli) -> None:
    lc = lifecycle
    result = cli(*lc.launch_args(f"{lc.prefix}bad", "--cloud-type", "huge"), env=lc.env())
    assert result.returncode == 2
    assert result.stderr.strip().startswith("cmlinfra: error: unknown size 'huge'")
    assert containers(lc.prefix) == [] and lc.runners() == []
    assert open_store(lc.state).names() == []

    # A `stack apply` machine of that name is not taken over by launch or exec: refused before
    # anything is created, and the stack is left as it was.
    taken = f"{lc.prefix}taken"
    applied = cli(
        "stack", "apply", "--cloud", "lxd", "--name", taken, "--max-ttl", "1h", env=lc.env()
    )
    assert applied.returncode == 0, applied.stderr[-2000:]
    stack = lc.home / "stacks" / taken
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in stack.rglob("*") if p.is_file()}
    exec_args = ["exec", "--cloud", "lxd", "--name", taken, "--state", lc.state, "--", "true"]
    for args in (lc.launch_args(taken), exec_args):
        refused = cli(*args, env=lc.env())
        assert refused.returncode == 1, refused.stderr[-2000:]
        assert f"a stack named '{taken}' already exists" in refused.stderr
        assert f"cmlinfra stack destroy --name {taken}" in refused.stderr
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in stack.rglob("*") if p.is_file()}
    assert after == before
    assert containers(lc.prefix) == [taken] and lc.runners() == []
    store = open_store(lc.state)
    assert (store.names(), store.lock_names()) == ([], [])

    # Nor does gc take it for a runner without a record: it has no record by design (its role
    # tag says so) and has not expired; gc says it left it.
    swept = cli(*lc.gc_args("--yes"), env=lc.env())
    assert swept.returncode == 0, swept.stderr[-2000:]
    report = json.loads(swept.stdout)
    assert report["findings"] == []
    assert any(f"left {taken} (lxd {taken}" in n and "role stack" in n for n in report["notes"])
    assert running(lc.prefix) == [taken]
    destroyed = cli("stack", "destroy", "--name", taken, env=lc.env())
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    assert containers(lc.prefix) == []


def test_a_failed_bootstrap_removes_the_runner_registered_while_it_ran(lifecycle, cli) -> None:
    """The forge's registration is asked for the moment terraform has created the machine,
    beside its boot, the SSH wait and the bootstrap (runner/registration.py). A bootstrap that
    fails has therefore
    registered the runner already; the teardown waits for that answer and removes exactly that
    runner, by the id it answered (no lookup by name)."""
    lc = lifecycle
    name = f"{lc.prefix}boot"
    broken = base64.b64encode(b"echo broken >&2; exit 3\n").decode()
    seen = len(lc.forge.api_calls("github"))
    failed = cli(*lc.launch_args(name, "--single", "--cloud-startup-script", broken), env=lc.env())
    assert failed.returncode == 1, failed.stderr[-2000:]
    last = failed.stderr.strip().splitlines()[-1]
    assert (
        f"{name} failed at step bootstrap" in last and "everything it created was destroyed" in last
    )
    calls = [c for c in lc.forge.api_calls("github")[seen:] if "/actions/runners" in c.path]
    posts = [i for i, c in enumerate(calls) if c.method == "POST"]
    assert [calls[i].path.rsplit("/", 1)[-1] for i in posts] == ["generate-jitconfig"]
    after = [(c.method, c.status) for c in calls[posts[0] + 1 :]]
    assert after == [("DELETE", 204)]
    assert (containers(lc.prefix), lc.runners()) == ([], [])
    store = open_store(lc.state)
    assert (store.names(), store.lock_names()) == ([], [])


def test_gitlab_runner_idles_out_and_gc_unregisters_it(lifecycle, cli) -> None:
    """GitLab: a project runner created through the API with its own glrt- token; the agent
    has no job hooks, so the watchdog samples its busy probe. Idle → gone → gc unregisters."""
    lc = lifecycle
    name = f"{lc.prefix}gl"
    record = launched(
        cli(*lc.launch_args(name, "--idle-timeout", "5s", driver="gitlab"), env=lc.env())
    )
    assert record["forge"] == "gitlab" and lc.runners("gitlab") == [name]
    wait_until(lambda: containers(lc.prefix) == [], 120, "the idle container to go")
    mismatch = json.loads(cli(*lc.gc_args("--yes"), env=lc.env()).stdout)
    assert [f["status"] for f in mismatch["findings"]] == ["failed"]  # a GitHub token can't
    assert "registered at gitlab" in mismatch["findings"][0]["error"]
    report = json.loads(cli(*lc.gc_args("--yes", driver="gitlab"), env=lc.env()).stdout)
    assert [(f["kind"], f["status"]) for f in report["findings"]] == [("machine-gone", "fixed")]
    assert lc.runners("gitlab") == [] and open_store(lc.state).names() == []
