"""The rendered watchdog on real LXD containers: real systemd timers, real power-off, real
ephemeral deletion. Installed with ``lxc exec`` here (launch installs it over SSH; see
test_launch_lxd.py); job events come from the real hook scripts, run as the agent would."""

from __future__ import annotations

import pytest

from cmlinfra.runner.watchdog import LIB, WatchdogPolicy, parse_status, render_install
from tests.runner.conftest import IMAGE, containers, lxc, wait_until

pytestmark = pytest.mark.lxd


def boot(name: str, policy: WatchdogPolicy) -> None:
    lxc(
        "launch",
        IMAGE,
        name,
        "--ephemeral",
        "-c",
        f"user.cmlinfra.stack={name}",
        "-c",
        "limits.memory=256MiB",
        "-c",
        "limits.cpu=1",
    )
    wait_until(
        lambda: (
            lxc("exec", name, "--", "systemctl", "is-system-running", check=False).strip()
            in {"running", "degraded"}
        ),
        60,
        f"{name} to boot",
    )
    lxc("exec", name, "--", "bash", "-s", input=render_install(policy))


def test_idle_single_and_max_ttl_power_off_and_delete_the_container(lxd_prefix: str) -> None:
    idle, single, ttl = (f"{lxd_prefix}{kind}" for kind in ("idle", "single", "ttl"))
    boot(idle, WatchdogPolicy(idle_timeout=6, interval=2))
    boot(single, WatchdogPolicy(idle_timeout=3600, single=True, interval=2))
    boot(ttl, WatchdogPolicy(idle_timeout=3600, max_ttl=12, interval=2))
    lxc("exec", ttl, "--", "bash", f"{LIB}/job-started.sh")  # a job that never ends
    lxc("exec", single, "--", "bash", f"{LIB}/job-started.sh")
    status = parse_status(lxc("exec", single, "--", f"{LIB}/watchdog", "status"))
    assert (status["job_running"], status["decision"]) == ("1", "keep")
    lxc("exec", single, "--", "bash", f"{LIB}/job-completed.sh")
    wait_until(
        lambda: containers(lxd_prefix) == [], 90, "all three containers to delete themselves"
    )
