"""Ctrl-C while terraform holds the state lock: terraform is told to stop, and the lock is
released before cmlinfra exits (real terraform 1.11.4, S3 state on moto)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

from cmlinfra.terraform import write_backend
from tests.fixtures.cli import cli_env
from tests.terraform.conftest import S3State, stack_config

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cmlinfra.terraform import Workspace, find_terraform

    def progress(line):
        print(line, flush=True)

    ws = Workspace(find_terraform(sys.argv[1]), Path(sys.argv[2]), on_progress=progress)
    ws.init()
    ws.plan()
    try:
        ws.apply()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
    """
)


def test_ctrl_c_releases_the_lock(tf_latest, tmp_path, s3_state: S3State) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    never = tmp_path / "never"  # the provisioner waits for a file nobody creates
    (stack / "main.tf.json").write_text(json.dumps(stack_config(tf_latest, wait_for=never)))
    write_backend(stack, s3_state.backend(), tf_latest)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tf_latest.path), str(stack)],
        env=cli_env(s3_state.moto.env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # ends at EOF if the script dies: then the assert below fails
            if line.startswith("terraform_data.runner: Creating"):
                break
        assert len(s3_state.lock_items()) == 1
        os.kill(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in rest
    assert s3_state.lock_items() == []
