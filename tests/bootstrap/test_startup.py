"""CML's --cloud-startup-script as a bootstrap step, run for real on OpenSSH sshd."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cmlinfra.bootstrap.run import bootstrap_host, run_step
from cmlinfra.bootstrap.ssh import connect
from cmlinfra.bootstrap.startup import STEP_NAME, decode, startup_step
from cmlinfra.errors import UsageError
from tests.fixtures.sshd import SshHost


def test_decode_accepts_cml_forms_and_refuses_the_rest() -> None:
    script = b"#!/bin/sh\necho hi\n" * 10
    wrapped = base64.encodebytes(script).decode()  # `base64 FILE`: broken at 76 columns
    assert "\n" in wrapped.strip() and decode(wrapped) == script
    for bad in ("echo hi", "aGk", "****"):
        with pytest.raises(UsageError, match="--cloud-startup-script is not base64"):
            decode(bad)


def test_script_runs_as_root_with_its_shebang_and_bytes_intact(
    sshd: SshHost, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    # Jinja2 syntax, quotes and a heredoc terminator must reach the host untouched.
    script = (
        "#!/usr/bin/env python3\n"
        "import os, pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('{{{{ not jinja }}}} \\'EOF\\'')\n"
        "print('uid', os.getuid())\n"
    ).encode()
    lines: list[str] = []
    with connect(sshd.target(), wait=10) as ssh:
        done, _ = run_step(ssh, startup_step(script), timeout=60, on_line=lines.append)
    assert done.exit_code == 0
    assert marker.read_text() == "{{ not jinja }} 'EOF'"
    assert lines == ["uid 0"]  # streamed as it ran


def test_failing_script_names_the_step(sshd: SshHost) -> None:
    script = b"echo preparing\necho 'no such package' >&2\nexit 4\n"  # no shebang: bash
    result = bootstrap_host(sshd.target(), [startup_step(script)], wait=10)
    assert not result.ok and result.error is not None and "\n" not in result.error
    assert f"step {STEP_NAME} failed with exit code 4: no such package" in result.error
