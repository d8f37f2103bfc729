"""``cmlinfra exec``: one command on a fresh machine, which is destroyed whatever happens.

provision → bootstrap → sync the working tree (git's view of it: tracked and untracked files,
``.gitignore`` respected) → run the command on the host or in Docker (with the GPUs) with live
output → fetch ``--artifacts`` → destroy ALWAYS (also on failure, SIGINT and SIGTERM: CI
cancellation) → exit with the command's exit code. The time of each stage is reported.
"""

from __future__ import annotations

import io
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.store import open_store

WORKDIR = "/opt/cmlinfra/work"


@dataclass(frozen=True)
class ExecOptions:
    cloud: str
    request: Any  # cmlinfra.clouds.base.MachineRequest
    command: list[str]
    docker_image: str = ""
    artifacts: list[str] = field(default_factory=list)
    workdir: Path = Path(".")
    state: str | None = None
    terraform: str | None = None
    bootstrap_steps: tuple[str, ...] = ()
    timeout: float = 24 * 3600
    output: TextIO | None = None  # where the command's live output goes; None: stdout


@dataclass
class ExecResult:
    name: str
    exit_code: int
    timings: dict[str, float]
    artifacts: list[str]

    def breakdown(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary: what ran where, how it ended, how long each stage took."""
        return {
            "name": self.name,
            "exit_code": self.exit_code,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "artifacts": self.artifacts,
        }


def tree_files(root: Path) -> list[str]:
    """The files to send: git's tracked and untracked-but-not-ignored files, or everything
    outside ``.git`` when ``root`` is not in a git work tree — or is a folder its enclosing
    repository ignores (a scratch folder such as ``.cache/run``: git would list nothing)."""
    ignored = subprocess.run(
        ["git", "-C", str(root), "check-ignore", "-q", "."], capture_output=True, check=False
    )
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0 and ignored.returncode != 0:
        names = [n for n in listed.stdout.decode().split("\0") if n]
        return sorted(n for n in names if (root / n).is_file())
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and ".git" not in p.parts
    )


def pack(root: Path, names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            tar.add(root / name, arcname=name, recursive=False)
    return buffer.getvalue()


def _command(opts: ExecOptions, gpu: bool) -> str:
    inner = shlex.join(opts.command) if len(opts.command) > 1 else opts.command[0]
    if not opts.docker_image:
        return f"cd {WORKDIR} && {inner}"
    gpus = "--gpus all " if gpu else ""
    return (
        f"docker run --rm {gpus}-v {WORKDIR}:/work -w /work "
        f"{shlex.quote(opts.docker_image)} bash -c {shlex.quote(inner)}"
    )


def _sync(session: Any, opts: ExecOptions) -> int:
    names = tree_files(opts.workdir)
    with session.step("sync"):
        remote = session.ssh.put_file(pack(opts.workdir, names), "tree.tgz", 0o600)
        session.root(f"mkdir -p {WORKDIR} && tar -xzf {remote} -C {WORKDIR}", "sync")
    return len(names)


def _fetch(session: Any, opts: ExecOptions) -> list[str]:
    if not opts.artifacts:
        return []
    globs = " ".join(shlex.quote(g) for g in opts.artifacts)
    bundle = "/tmp/cmlinfra-artifacts.tgz"
    script = (
        f"shopt -s globstar nullglob; cd {WORKDIR}; files=(); "
        f"for g in {globs}; do files+=($g); done; "
        f'tar -czf {bundle} --files-from /dev/null "${{files[@]}}"; chmod 0644 {bundle}'
    )
    with session.step("fetch"):
        session.root(script, "fetch")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "artifacts.tgz"
            session.ssh._sftp_client().get(bundle, str(local))  # the transport's SFTP session
            with tarfile.open(local) as tar:
                members = tar.getnames()
                tar.extractall(opts.workdir, filter="data")  # no absolute paths, no ../
    return members


def execute(opts: ExecOptions) -> ExecResult:
    from cmlinfra.bootstrap.steps import Options, build_steps
    from cmlinfra.runner import ahead
    from cmlinfra.runner.inventory import RUNNER_ROLE, with_role
    from cmlinfra.runner.machine import Session
    from cmlinfra.runner.signals import cancellable
    from cmlinfra.stack import service

    ahead.start(opts.terraform)  # overlaps the checks below
    if not opts.command:
        raise UsageError(
            "no command to run", "put it after --, e.g. cmlinfra exec -- python train.py"
        )
    store = open_store(opts.state)
    request = with_role(opts.request, RUNNER_ROLE)  # gc: without a record, it is garbage
    prepared = service.prepare(request, opts.cloud, terraform=opts.terraform, state=opts.state)
    gpu = prepared.machine.gpu_count > 0
    wanted = opts.bootstrap_steps or (("detect", "docker") if opts.docker_image else ("detect",))
    if gpu and not opts.bootstrap_steps:
        wanted = ()  # every default step: driver, container toolkit, check
    steps = build_steps(Options(gpu=gpu), only=list(wanted) or None)
    started = time.monotonic()
    session = Session.begin(store, prepared, mode="exec", labels=[], single=True, idle_timeout=0)
    code, fetched = -1, []
    with cancellable():
        try:
            address = session.apply()
            session.connect(address)
            session.bootstrap(steps)
            _sync(session, opts)
            with session.step("run"):
                live = _live(opts.output or sys.stdout)
                result = session.ssh.run(_command(opts, gpu), timeout=opts.timeout, on_line=live)
            code = result.exit_code
            fetched = _fetch(session, opts)
        except BaseException as exc:
            raise session.fail(exc) from None
    _finish(session, started)
    return ExecResult(session.record.name, code, session.timings, fetched)


def _live(stream: TextIO) -> Any:
    """The command's output, line by line, as it comes (flushed: CI shows it live)."""

    def write(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    return write


def _finish(session: Any, started: float) -> None:
    """The success path's teardown: the same destroy, shielded from signals."""
    from cmlinfra.runner.signals import shielded
    from cmlinfra.runner.teardown import destroy_record

    with shielded():
        session.close_ssh()
        try:
            with session.step("destroy"):
                destroy_record(session.store, session.record, locked=True)
        except Exception as exc:
            raise CmlinfraError(
                f"exec {session.record.name}: destroying the machine failed: {exc}",
                "run 'cmlinfra gc --yes' to retry",
            ) from None
        finally:
            session.release()
            session.timings["total"] = time.monotonic() - started
