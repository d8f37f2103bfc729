"""``cmlinfra exec``: one command on a fresh machine, which is destroyed whatever happens.

provision → bootstrap → sync the working tree (git's view of it: tracked and untracked files,
``.gitignore`` respected) → run the command on the host or in Docker (with the GPUs) with live
output → fetch ``--artifacts`` → destroy ALWAYS (also on failure, SIGINT and SIGTERM: CI
cancellation) → exit with the command's exit code. The time of each stage is reported.
"""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner.store import open_store
from cmlinfra.runner.worktree import WORKDIR, fetch_artifacts, send_tree


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
    dvc: bool | None = None  # None: when the tree has dvc.yaml
    dvc_remote: str = ""  # "": the repository's default remote
    commit: bool = False  # push dvc.lock and the metrics to the branch afterwards
    tensorboard: str = ""  # LOGDIR, served live over SSH and brought back
    tensorboard_port: int = 0  # the local port; 0: any free one
    spot: str = ""  # --cloud-spot's value: "", true, auto… (stack.candidates.spot_choices)
    candidates: Any = None  # stack.candidates.Candidate list; None: built from the above
    checkpoint_dir: str = ""  # saved on a spot reclaim, restored on the next machine
    max_restarts: int = 1  # relaunches after reclaims (runner/reclaim.py)


@dataclass
class ExecResult:
    name: str
    exit_code: int
    timings: dict[str, float]
    artifacts: list[str]
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)  # where it ran: cloud, region, type…
    attempts: list[dict[str, Any]] = field(default_factory=list)  # the failover's candidates
    reclaims: list[dict[str, Any]] = field(default_factory=list)  # spot reclaims, in order

    def breakdown(self) -> str:
        return ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` summary: what ran where, how it ended, how long each stage took."""
        return {
            "name": self.name,
            "exit_code": self.exit_code,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "artifacts": self.artifacts,
            "notes": self.notes,
            "machine": self.machine,
            "attempts": self.attempts,
            "reclaims": self.reclaims,
        }

    def where(self) -> str:
        """The machine it ran on, for the summary line (runner/records.py's words)."""
        from cmlinfra.runner.records import where

        return where(self.machine, self.attempts)


def _command(opts: ExecOptions, gpu: bool) -> str:
    inner = shlex.join(opts.command) if len(opts.command) > 1 else opts.command[0]
    if not opts.docker_image:
        return f"cd {WORKDIR} && {inner}"
    gpus = "--gpus all " if gpu else ""
    return (
        f"docker run --rm {gpus}-v {WORKDIR}:/work -w /work "
        f"{shlex.quote(opts.docker_image)} bash -c {shlex.quote(inner)}"
    )


def execute(opts: ExecOptions) -> ExecResult:
    from cmlinfra.clouds.tags import RUNNER_ROLE, with_role
    from cmlinfra.runner import ahead
    from cmlinfra.runner.machine import Session
    from cmlinfra.runner.signals import cancellable
    from cmlinfra.stack import candidates, failover

    ahead.start(opts.terraform)  # overlaps the checks below
    use_dvc = opts.dvc if opts.dvc is not None else (opts.workdir / "dvc.yaml").is_file()
    plan, target = _dvc_checks(opts, use_dvc)  # before anything is created
    if use_dvc and not opts.command:
        from cmlinfra.runner.dvc import DEFAULT_COMMAND

        opts = replace(opts, command=list(DEFAULT_COMMAND))
    if not opts.command:
        raise UsageError(
            "no command to run", "put it after --, e.g. cmlinfra exec -- python train.py"
        )
    if opts.checkpoint_dir:
        from cmlinfra.runner.reclaim import checked_dir

        opts = replace(opts, checkpoint_dir=checked_dir(opts.checkpoint_dir))
    store = open_store(opts.state)
    machines = failover.plan(
        opts.cloud,
        opts.request,
        opts.candidates or candidates.build(opts.request, opts.cloud, opts.spot or None),
        terraform=opts.terraform,
        state=opts.state,
        role=lambda request: with_role(request, RUNNER_ROLE),  # gc: no record, it is garbage
    )
    machines.lookup()  # every candidate checked and ordered; nothing created
    for option in machines.options:
        if option.prepared.cloud.info.capabilities.container and opts.docker_image:
            raise UsageError(
                f"--docker-image: on --cloud {option.candidate.cloud} the command already runs "
                "in a container",
                "give the image as --cloud-image instead",
            )
    from cmlinfra.runner import exec_reclaim

    started = time.monotonic()
    relaunch = exec_reclaim.Relaunch(opts, machines)
    while True:
        session = Session.begin(
            store, relaunch.first(), mode="exec", labels=[], single=True, idle_timeout=0
        )
        session.failover = machines
        session.options = relaunch.options
        code, fetched, notes = -1, [], list[str]()
        with cancellable():
            try:
                address = session.apply()
                session.connect(address)
                gpu, steps = _steps(opts, session.prepared)  # the candidate it landed on
                session.bootstrap(steps)
                send_tree(session, opts.workdir)
                relaunch.arm(session, WORKDIR)
                code, extra = _run(session, opts, plan, gpu, notes, relaunch.wrap)
                reclaimed = relaunch.heard(session)
                wanted = [*opts.artifacts, *extra]
                fetched = [] if reclaimed else fetch_artifacts(session, opts.workdir, wanted)
            except BaseException as exc:
                raise session.fail(exc) from None
        _finish(session, started)
        relaunch.add_timings(session.timings)
        if not reclaimed or not relaunch.again(session, code):
            break
    session.timings = relaunch.timings(session.timings)
    notes[:0] = relaunch.notes
    if reclaimed:  # the restarts ran out: the command did not finish
        code = code or 1
    if plan is not None and target and code == 0:
        from cmlinfra.runner.dvc_commit import commit

        message = f"cmlinfra exec {session.record.name}: {' '.join(opts.command)}"
        notes.append(commit(opts.workdir, target, fetched, message))
    result = ExecResult(session.record.name, code, session.timings, fetched, notes)
    result.machine, result.attempts = _machine(session.record), session.record.attempts
    result.reclaims = relaunch.reclaims
    return result


def _steps(opts: ExecOptions, prepared: Any) -> tuple[bool, list[Any]]:
    """Whether the machine has a GPU, and the bootstrap steps it needs."""
    from cmlinfra.bootstrap.steps import Options, build_steps

    gpu = prepared.machine.gpu_count > 0
    container = prepared.cloud.info.capabilities.container
    wanted = opts.bootstrap_steps or (("detect", "docker") if opts.docker_image else ("detect",))
    if gpu and not opts.bootstrap_steps and not container:
        wanted = ()  # every default step: driver, container toolkit, check (the node has them)
    return gpu, build_steps(Options(gpu=gpu), only=list(wanted) or None)


def _machine(record: Any) -> dict[str, Any]:
    """Where the command ran (the candidate it landed on)."""
    return {
        "cloud": record.cloud,
        "region": record.region,
        "type": record.instance_type,
        "spot": record.spot,
        "hourly_price": record.hourly_price,
    }


def _dvc_checks(opts: ExecOptions, use_dvc: bool) -> tuple[Any, str]:
    """The DVC plan and the --commit branch, read on the launcher (one-line errors, nothing
    created yet)."""
    if not use_dvc:
        if opts.commit:
            raise UsageError("--commit pushes dvc.lock", "use it with --dvc")
        return None, ""
    from cmlinfra.runner.dvc import plan
    from cmlinfra.runner.dvc_commit import branch

    identity = bool(getattr(opts.request, "permission_set", None))
    command = opts.command
    found = plan(opts.workdir, command, remote=opts.dvc_remote, identity=identity)
    return found, branch(opts.workdir) if opts.commit else ""


def _run(
    session: Any,
    opts: ExecOptions,
    plan: Any,
    gpu: bool,
    notes: list[str],
    wrap: Any = None,
) -> tuple[int, list[str]]:
    """(dvc pull →) the command (with TensorBoard live) (→ dvc push); returns its exit code
    and the extra paths to bring back."""
    from cmlinfra.runner import dvc_machine, tensorboard_live

    live = _live(opts.output or sys.stdout)
    extra = [*(plan.fetch if plan is not None else [])]
    board = None
    try:
        if plan is not None:
            dvc_machine.setup(session, plan, WORKDIR)
            dvc_machine.pull(session, plan, WORKDIR, live)
        if opts.tensorboard:
            extra.append(opts.tensorboard.strip("/"))
            board = tensorboard_live.start(
                session, WORKDIR, opts.tensorboard, opts.tensorboard_port
            )
            notes.append(f"TensorBoard was served at {board.url} while the command ran")
        with session.step("run"):
            command = _command(opts, gpu)
            command = wrap(command) if wrap is not None else command
            result = session.ssh.run(command, timeout=opts.timeout, on_line=live)
        if plan is not None and result.exit_code == 0:
            dvc_machine.push(session, plan, WORKDIR, live)
        elif plan is not None:
            notes.append(
                f"dvc: the command exited {result.exit_code}, so nothing was pushed to the remote "
                "(and nothing committed); fix the stage (its output is above) and re-run"
            )
        return result.exit_code, extra
    finally:
        if board is not None:
            board.stop()
        if plan is not None:
            dvc_machine.cleanup(session, plan, WORKDIR)


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
