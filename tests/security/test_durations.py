"""Finding 9: durations had no upper bound. A huge ``--idle-timeout`` or ``--max-ttl``
overflowed the watchdog's bash arithmetic and silently disabled the power-off (and a huge AWS
TTL crashed the date arithmetic). Both are now at most 30 days, refused in one line beyond; the
real watchdog script (shellcheck-clean, run by bash) powers off at exactly that limit.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.security.attacks import assert_refused

HUGE = ["99999999999999999999", "1000000d", "31d", "9223372036854775808s"]
NOWHERE = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


COMMANDS = [
    ["runner", "launch", "--cloud", "lxd", "--idle-timeout"],
    ["runner", "launch", "--cloud", "lxd", "--max-ttl"],
    ["runner", "launch", "--cloud", "aws", "--max-ttl"],
    ["exec", "--cloud", "aws", "--max-ttl"],
    ["stack", "render", "--cloud", "lxd", "--max-ttl"],
    ["stack", "render", "--cloud", "aws", "--max-ttl"],
]


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("option", ["--max-ttl", "--idle-timeout"])
def test_every_spelling_is_refused_by_the_parsers(option: str, value: str) -> None:
    from cmlinfra.errors import UsageError
    from cmlinfra.runner.watchdog import parse_duration
    from cmlinfra.stack.request import parse_duration as parse_max_ttl

    with pytest.raises(UsageError):
        parse_duration(value, option)
    with pytest.raises(UsageError):
        parse_max_ttl(value, option)


# each command with one of the spellings (the parsers see them all, above)
@pytest.mark.parametrize(
    ("command", "value"),
    [(command, HUGE[i % len(HUGE)]) for i, command in enumerate(COMMANDS)],
    ids=lambda c: " ".join(c) if isinstance(c, list) else c,
)
def test_a_duration_beyond_the_limit_is_refused(
    cli, tmp_path: Path, command: list[str], value: str
) -> None:
    env = {**NOWHERE, "CMLINFRA_HOME": str(tmp_path / "home"),
           "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    args = [*command, value, "--name", "cmlt-ttl"]
    if command[0] == "exec":
        args += ["--", "true"]
    result = cli(*args, env=env)
    assert_refused(result, command[-1])
    assert not any(tmp_path.rglob("*")), "nothing may be created"


def _watchdog(tmp_path: Path, **policy: int) -> Path:
    from cmlinfra.runner.watchdog import LIB, WatchdogPolicy, render_scripts

    script = tmp_path / LIB.lstrip("/") / "watchdog"
    script.parent.mkdir(parents=True)
    script.write_text(render_scripts(WatchdogPolicy(**policy))["watchdog"][1])
    (tmp_path / "var/lib/cmlinfra").mkdir(parents=True)
    checked = subprocess.run([shutil.which("shellcheck") or "shellcheck", str(script)])
    assert checked.returncode == 0
    return script


def _decision(tmp_path: Path, script: Path, armed_ago: int) -> str:
    (tmp_path / "var/lib/cmlinfra/armed_at").write_text(f"{int(time.time()) - armed_ago}\n")
    done = subprocess.run(
        ["bash", str(script), "status"],
        env={"CMLINFRA_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in done.stdout.splitlines())["decision"]


def test_the_watchdog_powers_off_at_the_limit(tmp_path: Path) -> None:
    from cmlinfra.clouds.validate import MAX_DURATION_SECONDS as LIMIT

    script = _watchdog(tmp_path, idle_timeout=0, max_ttl=LIMIT)
    assert _decision(tmp_path, script, LIMIT - 60) == "keep"
    assert _decision(tmp_path, script, LIMIT) == "max-ttl"
    idle = _watchdog(tmp_path / "idle", idle_timeout=LIMIT, max_ttl=0)
    assert _decision(tmp_path / "idle", idle, LIMIT) == "idle"


@pytest.mark.parametrize("field", ["idle_timeout", "max_ttl"])
def test_a_policy_the_script_could_not_count_is_never_rendered(field: str) -> None:
    from cmlinfra.errors import UsageError
    from cmlinfra.runner.watchdog import WatchdogPolicy

    with pytest.raises(UsageError, match="30 days"):
        WatchdogPolicy(**{field: 2**64 + 3600})  # type: ignore[arg-type]


def test_aws_user_data_has_a_maximum_ttl() -> None:
    from cmlinfra.clouds.aws.userdata import max_ttl
    from cmlinfra.errors import UsageError

    assert max_ttl(30 * 86400) == 30 * 86400
    with pytest.raises(UsageError, match="30 days"):
        max_ttl(30 * 86400 + 1)
