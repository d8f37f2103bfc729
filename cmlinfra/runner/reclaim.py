"""Spot reclaims mid-job: the machine's watcher, and what the launcher does with its notice.

A spot machine can be taken back while the job runs; the cloud says so shortly before on its
metadata service (each cloud's ``Capabilities.interruption``). A small watcher on the machine
asks every few seconds and, on the notice, stops the job, packs the user's ``--checkpoint-dir``
and (runner mode) unregisters the runner. ``exec`` then brings the checkpoint back, destroys the
machine and runs the command again on the next candidate with the checkpoint restored, up to
``--max-restarts`` (docs/reclaim.md).

Two environment variables steer it, for tests and for machines the launcher did not create:
``CMLINFRA_INTERRUPTION=<cloud>`` watches that cloud's notice on any machine (``--cloud ssh`` on
one's own spot instance; the tests' LXD containers), and ``CMLINFRA_METADATA_URL`` replaces the
metadata service's address (a test's own server on the machine's loopback).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from cmlinfra.errors import UsageError

STATE = "/var/lib/cmlinfra"
MARK = f"{STATE}/reclaim"
CHECKPOINT = f"{STATE}/checkpoint.tgz"
JOB_PID = f"{STATE}/job.pid"
SERVICE = "cmlinfra-reclaim.service"


@dataclass(frozen=True)
class Watch:
    """What the watcher asks, and what it does on the notice."""

    interruption: Any  # cmlinfra.clouds.info.Interruption
    base_url: str
    workdir: str = ""
    checkpoint_dir: str = ""  # relative to workdir, or absolute
    runner: bool = False  # unregister and end the machine (runner mode); exec: the launcher does
    agent_unit: str = ""  # runner mode: stopped on notice (the job with it)
    end_script: str = ""
    upload: str = ""  # runner mode: the root-only file of presigned PUT URLs (checkpoints.py)
    # Bitbucket's runner has no job hooks: the watcher finds the running step among the agent's
    # processes, its clone under this folder (the runner's working dir); "": the hooks say
    step_root: str = ""
    interval: int = 2

    @property
    def grace(self) -> int:
        """Seconds the job has after SIGTERM: a third of the cloud's warning, 5 to 30."""
        return max(5, min(30, int(self.interruption.warning_seconds) // 3))


def interruption(capabilities: Any) -> tuple[Any, str] | None:
    """The notice to watch on a machine of this cloud and the metadata service's address, or
    None when nobody announces a reclaim. ``CMLINFRA_INTERRUPTION`` names a cloud whose notice
    to watch instead; ``CMLINFRA_METADATA_URL`` replaces the address."""
    from cmlinfra.clouds import cloud_info

    found = capabilities.interruption
    other = os.environ.get("CMLINFRA_INTERRUPTION", "").strip()
    if other:
        try:
            found = cloud_info(other).capabilities.interruption
        except Exception as exc:
            raise UsageError(
                f"CMLINFRA_INTERRUPTION={other!r}: {exc}", "name a cloud, or unset it"
            ) from None
        if found is None:
            raise UsageError(
                f"CMLINFRA_INTERRUPTION={other!r}: that cloud announces no reclaim",
                "name a cloud with spot machines, or unset it",
            )
    if found is None:
        return None
    url = os.environ.get("CMLINFRA_METADATA_URL", "").strip() or found.base_url
    return found, url.rstrip("/")


def checked_dir(value: str) -> str:
    """``--checkpoint-dir``: a folder of the working tree (it travels back and forth)."""
    path = PurePosixPath(value.strip())
    if not value.strip() or path.is_absolute() or ".." in path.parts:
        raise UsageError(
            f"--checkpoint-dir {value!r} is not a folder inside the working tree",
            "give a relative path such as checkpoints/ (the command writes its checkpoints there)",
        )
    return str(path)


def render(watch: Watch, job_user: str = "") -> str:
    """The watcher script. ``job_user``: whose rights the checkpoint folder is read with (the
    job's folder is that user's to shape: a link it plants there must not let the root watcher
    pack what that user cannot read); "" or root: the watcher's own."""
    from cmlinfra.runner.watchdog import render_template

    return render_template(
        "reclaim.sh.j2",
        base_url=watch.base_url,
        interval=watch.interval,
        grace=watch.grace,
        workdir=watch.workdir,
        checkpoint_dir=watch.checkpoint_dir,
        agent_unit=watch.agent_unit,
        runner=watch.runner,
        end_script=watch.end_script.strip(),
        upload=watch.upload,
        step_root=watch.step_root,
        job_user=job_user,
        probe=watch.interruption.probe.rstrip("\n"),
        watched=watch.interruption.watched,
    )


def install_script(watch: Watch, job_user: str, lib: str) -> str:
    """Root shell that installs the watcher and starts it: a systemd service for a runner, a
    background process for exec (which may run where there is no systemd: a pod)."""
    # a runner's job is someone's pull request, whose user must not gain root's reads; exec's
    # command is the launching user's own, who holds the machine's key (and its sudo) anyway
    script = render(watch, job_user if watch.runner else "").rstrip("\n")
    if "\nCMLINFRA_EOF\n" in f"\n{script}\n":
        raise ValueError("the rendered watcher contains the heredoc delimiter")
    lines = [
        "#!/bin/bash",
        "set -euo pipefail",
        f"mkdir -p {lib} {STATE}",
        f"chmod 0755 {lib} {STATE}",
        f"rm -f {MARK} {CHECKPOINT} {JOB_PID}",
        f"cat >{lib}/reclaim <<'CMLINFRA_EOF'",
        script,
        "CMLINFRA_EOF",
        f"chmod 0755 {lib}/reclaim",
        # the command's shell writes its pid here (as the SSH user)
        f"install -m 0644 -o {job_user} /dev/null {JOB_PID}",
    ]
    if watch.runner:
        from cmlinfra.runner.watchdog import render_template

        unit = render_template("cmlinfra-reclaim.service.j2", lib=lib).rstrip("\n")
        lines += [
            f"cat >/etc/systemd/system/{SERVICE} <<'CMLINFRA_EOF'",
            unit,
            "CMLINFRA_EOF",
            "systemctl daemon-reload",
            f"systemctl enable --now {SERVICE}",
        ]
    else:
        lines.append(f"setsid nohup {lib}/reclaim watch </dev/null >/dev/null 2>&1 &")
    return "\n".join(lines) + "\n"


def wrap(command: str, pid_file: str = JOB_PID) -> str:
    """The command, its shell's pid written first: on notice the watcher stops everything
    under that shell, which stays (the ``exit`` after the command keeps bash from exec'ing it)
    so that it reports the command's exit status over SSH instead of dying by a signal."""
    return f"echo $$ >{pid_file} && {{ {command}\n}}; exit $?"


def parse(text: str) -> dict[str, str]:
    """The watcher's ``$STATE/reclaim`` (key=value lines); {} when there was no notice."""
    pairs = (line.partition("=") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}
