"""The real rendered watchdog, hooks and installer, run by bash inside a temporary root.

Stand-in (narrow, on purpose): ``systemctl`` and ``poweroff`` are shims on PATH
that append their arguments to a calls file, because powering off this machine is not an
option; everything else (bash, awk, date, install, the rendered scripts) is the real thing.
The same scripts run for real in an LXD container in tests/runner/test_launch_lxd.py.
"""

from __future__ import annotations

import getpass
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmlinfra.clouds import cloud_info
from cmlinfra.errors import UsageError
from cmlinfra.runner.watchdog import (
    LIB,
    WatchdogPolicy,
    parse_duration,
    parse_status,
    render_install,
    render_scripts,
    render_units,
)

SHIM = '#!/bin/bash\necho "$(basename "$0") $*" >>"$CALLS"\n'
UNREGISTER = '#!/bin/bash\necho "unregister" >>"$CALLS"\nexit "${UNREGISTER_RC:-0}"\n'


@dataclass
class Node:
    root: Path
    calls: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.root / LIB.lstrip("/") / "watchdog"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def status(self) -> dict[str, str]:
        return parse_status(self.run("status").stdout)

    def event(self, name: str, seconds_ago: int = 0) -> None:
        """A job event as the hook writes it, dated in the past (no sleeping)."""
        with (self.root / "var/lib/cmlinfra/events.log").open("a") as log:
            log.write(f"{name} {int(time.time()) - seconds_ago}\n")

    def hook(self, event: str) -> None:
        """Run the real hook the way the GitHub runner does (``bash <script>``)."""
        script = self.root / LIB.lstrip("/") / f"job-{event}.sh"
        subprocess.run(["bash", str(script)], env=self.env, check=True, timeout=30)

    def armed(self, seconds_ago: int) -> None:
        (self.root / "var/lib/cmlinfra/armed_at").write_text(f"{int(time.time()) - seconds_ago}\n")

    def recorded(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Install a policy into a fresh temporary root; returns the node after install."""

    def install(**overrides: object) -> Node:
        policy = WatchdogPolicy(
            **{"agent_user": getpass.getuser(), "unregister": UNREGISTER, **overrides}  # type: ignore[arg-type]
        )
        root, shims = tmp_path / "root", tmp_path / "shims"
        root.mkdir()
        shims.mkdir()
        for name in ("systemctl", "poweroff"):
            (shims / name).write_text(SHIM)
            (shims / name).chmod(0o755)
        calls = tmp_path / "calls"
        env = {
            "PATH": f"{shims}:{os.environ['PATH']}",
            "CMLINFRA_ROOT": str(root),
            "CALLS": str(calls),
        }
        subprocess.run(["bash", "-s"], input=render_install(policy), env=env, text=True, check=True)
        return Node(root, calls, env)

    return install


def test_install_writes_files_and_enables_the_timer(node) -> None:
    n = node(idle_timeout=60)
    lib = n.root / LIB.lstrip("/")
    assert stat.S_IMODE((lib / "watchdog").stat().st_mode) == 0o755
    assert stat.S_IMODE((lib / "unregister").stat().st_mode) == 0o700
    assert (n.root / "etc/systemd/system/cmlinfra-watchdog.timer").exists()
    assert n.recorded() == [
        "systemctl daemon-reload",
        "systemctl enable --now --no-reload cmlinfra-watchdog.timer",
    ]
    status = n.status()
    assert status["decision"] == "keep"
    assert int(status["armed_at"]) == pytest.approx(time.time(), abs=30)


def test_idle_machine_unregisters_then_powers_off(node) -> None:
    n = node(idle_timeout=60, agent_unit="actions.runner.service")
    n.armed(seconds_ago=61)
    assert n.status()["decision"] == "idle"
    n.run("check")
    assert n.recorded()[2:] == [
        "systemctl stop actions.runner.service",
        "unregister",
        "systemctl poweroff",
    ]
    assert (n.root / "var/lib/cmlinfra/teardown").read_text().startswith("idle ")


def test_running_job_is_never_idle(node) -> None:
    n = node(idle_timeout=60)
    n.armed(seconds_ago=5000)
    n.event("started", seconds_ago=4000)
    status = n.status()
    assert (status["decision"], status["job_running"], status["idle_seconds"]) == ("keep", "1", "0")
    n.run("check")
    assert "systemctl poweroff" not in n.recorded()


def test_idle_counts_from_the_last_job(node) -> None:
    n = node(idle_timeout=60)
    n.armed(seconds_ago=5000)
    n.event("started", seconds_ago=400)
    n.event("completed", seconds_ago=30)
    assert n.status()["decision"] == "keep"
    n.event("started", seconds_ago=29)
    n.event("completed", seconds_ago=61)  # an older-dated completion: newest event still counts
    assert n.status()["decision"] == "keep"


def test_idle_timeout_zero_never_expires(node) -> None:
    n = node(idle_timeout=0)
    n.armed(seconds_ago=10**6)
    assert n.status()["decision"] == "keep"


def test_single_goes_after_one_job_through_the_real_hooks(node) -> None:
    n = node(idle_timeout=3600, single=True)
    n.hook("started")
    assert n.status()["decision"] == "keep"
    n.hook("completed")
    status = n.status()
    assert (status["jobs_completed"], status["decision"]) == ("1", "single-job-done")
    n.run("check")
    assert n.recorded()[-2:] == ["unregister", "systemctl poweroff"]


def test_max_ttl_wins_over_a_running_job(node) -> None:
    n = node(idle_timeout=60, max_ttl=3600)
    n.armed(seconds_ago=3600)
    n.event("started", seconds_ago=10)
    assert n.status()["decision"] == "max-ttl"


def test_busy_probe_turns_into_job_events(node, tmp_path: Path) -> None:
    """Agents without hooks (GitLab, Bitbucket): the probe's answers become job events."""
    flag = tmp_path / "busy"
    n = node(idle_timeout=60, single=True, busy_probe=f"test -e {flag}")
    n.armed(seconds_ago=100)
    flag.touch()
    n.run("check")
    assert (n.status()["job_running"], n.status()["decision"]) == ("1", "keep")
    flag.unlink()
    assert n.status()["job_running"] == "1"  # status only reads; the next check samples
    n.run("check")
    assert n.recorded()[-1] == "systemctl poweroff"
    assert (n.root / "var/lib/cmlinfra/teardown").read_text().startswith("single-job-done ")


def test_gitlab_jobs_hook_lines_are_activity_not_jobs(node, tmp_path: Path) -> None:
    """GitLab: the busy probe counts jobs; the hooks its pre/post_build_script call (a stand-in
    of its shell executor, tests/runner/gitlab_job.py) write script-* lines, and a script that
    failed, so never ran post_build_script, does not keep the machine busy."""
    from tests.runner import gitlab_job

    flag = tmp_path / "busy"
    n = node(idle_timeout=60, single=True, busy_probe=f"test -e {flag}")
    n.armed(seconds_ago=100)
    flag.touch()
    n.run("check")
    work = tmp_path / "ws"
    work.mkdir()
    ci = {"CI_PIPELINE_ID": "7", "CI_JOB_NAME": "train 1/2", "CI_PROJECT_DIR": str(work)}
    assert gitlab_job.run(n.root, ci, ["exit 1"]) == 1
    flag.unlink()
    n.run("check")
    assert (n.status()["jobs_started"], n.status()["jobs_completed"]) == ("1", "1")
    assert n.recorded()[-1] == "systemctl poweroff"


def test_ssh_cloud_machine_is_left_running(node) -> None:
    """The ssh cloud is somebody's own machine: unregister and stop, never power off."""
    n = node(idle_timeout=60, end_script=cloud_info("ssh").capabilities.watchdog_end)
    n.armed(seconds_ago=61)
    n.run("check")
    assert n.recorded()[-2:] == ["unregister", "systemctl disable --now cmlinfra-watchdog.timer"]


def test_failed_unregister_still_powers_off(node) -> None:
    n = node(idle_timeout=1)
    n.armed(seconds_ago=10)
    n.env["UNREGISTER_RC"] = "3"
    result = n.run("check")
    assert n.recorded()[-2:] == ["unregister", "systemctl poweroff"]
    assert "cmlinfra gc" in result.stderr


def test_reinstall_keeps_the_arming_time(node) -> None:
    n = node(idle_timeout=60)
    n.armed(seconds_ago=500)
    policy = WatchdogPolicy(idle_timeout=60, agent_user=getpass.getuser())
    subprocess.run(["bash", "-s"], input=render_install(policy), env=n.env, text=True, check=True)
    assert int(n.status()["armed_at"]) <= time.time() - 500


def test_hook_never_fails_a_job(node) -> None:
    n = node()
    events = n.root / "var/lib/cmlinfra/events.log"
    events.unlink()
    events.mkdir()  # unwritable even for root
    n.hook("started")  # check=True: exit status 0 even though the event cannot be written


@pytest.mark.parametrize("single", [True, False])
def test_rendered_scripts_are_shellcheck_clean(tmp_path: Path, single: bool) -> None:
    policy = WatchdogPolicy(
        single=single, busy_probe="pgrep -f 'Runner.Worker'", unregister=UNREGISTER
    )
    paths = []
    for name, (_, text) in render_scripts(policy).items():
        paths.append(tmp_path / name)
        paths[-1].write_text(text)
    paths.append(tmp_path / "install.sh")
    paths[-1].write_text(render_install(policy))
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run scripts/setup.sh"
    result = subprocess.run(
        [shellcheck, "-s", "bash", *map(str, paths)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_units_pass_systemd_verification(tmp_path: Path) -> None:
    units = render_units(WatchdogPolicy(interval=7))
    for name, text in units.items():
        (tmp_path / name).write_text(text.replace(f"{LIB}/watchdog", "/bin/true"))
    assert "OnUnitActiveSec=7s" in units["cmlinfra-watchdog.timer"]
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in units)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300", 300),
        ("30s", 30),
        ("5min", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("never", 0),
        ("0", 0),
        ("-1", 0),
    ],  # CML 0.x disabled the timeout with -1
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "--idle-timeout") == seconds


def test_bad_duration_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--idle-timeout '5 fortnights' is not a duration"):
        parse_duration("5 fortnights", "--idle-timeout")


def test_teardown_forgets_the_credentials_even_where_the_machine_stays(node) -> None:
    """runner launch --dvc: the remote's credentials go at teardown, after the agent stops,
    also on someone's own machine (no power-off) where the files would otherwise outlive it."""
    config, keys = "/home/runner/.config/dvc/config", "/etc/cmlinfra/dvc"
    n = node(single=True, agent_unit="cmlinfra-agent.service", end_script="",
             forget=(config, keys))  # fmt: skip
    for path in (n.root / config.lstrip("/"), n.root / keys.lstrip("/") / "keyfile"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("secret\n")
    n.hook("started")
    n.run("check")
    assert (n.root / config.lstrip("/")).exists()  # a job is running: kept
    n.hook("completed")
    n.run("check")
    assert not (n.root / config.lstrip("/")).exists()
    assert not (n.root / keys.lstrip("/")).exists()
    assert "systemctl stop cmlinfra-agent.service" in n.recorded()


def test_forget_takes_absolute_paths_only() -> None:
    for bad in ("relative/config", "/", "/etc/x\nrm -rf /"):
        with pytest.raises(ValueError):
            WatchdogPolicy(forget=(bad,))
