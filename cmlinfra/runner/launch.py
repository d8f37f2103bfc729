"""``cmlinfra runner launch``: a machine that registers as a CI runner and removes itself.

Flow: checks (nothing created) → record + lock → stack apply → SSH (host key verified) →
bootstrap (the forge's registration asked for meanwhile) → the agent's registration material
(short-lived, over SFTP) → watchdog armed → agent started → record ``ready``. Any failure, or
a cancellation, tears down everything created so far and names the step that failed. After
that the machine is on its own: its watchdog unregisters and powers it off when idle, after its
single job, or at its max TTL. A machine that is a container (``Capabilities.container``) has
no systemd: there the agent and the watchdog run under a supervisor that becomes the
container's main process (supervisor.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.errors import UsageError
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.reuse import name_free, reusable
from cmlinfra.runner.store import RunnerStore, open_store


@dataclass(frozen=True)
class LaunchOptions:
    cloud: str
    request: Any  # cmlinfra.clouds.base.MachineRequest
    labels: list[str] = field(default_factory=lambda: ["cml"])
    idle_timeout: int = 300
    single: bool = False
    reuse: bool = False
    reuse_idle: bool = False
    driver: str | None = None
    repo: str | None = None
    token: str | None = None
    state: str | None = None
    terraform: str | None = None
    bootstrap_steps: tuple[str, ...] = ()  # () : the bootstrap's defaults for this machine
    watchdog_interval: int = 15
    runner_group: str = ""  # GitHub organization runners only: a group name or id
    startup_script: bytes | None = None  # CML's --cloud-startup-script, decoded: a last step
    no_retry: bool = False  # CML's --no-retry, kept in the record for the failover
    dvc: bool = False  # DVC ready for the jobs (runner/dvc_runner.py); CML's default: nothing
    dvc_remote: str = ""  # "": the repository's core.remote
    dvc_root: str = "."  # the DVC repository whose remote the jobs use
    spot: str = ""  # --cloud-spot's value: "", true, auto… (stack.candidates.spot_choices)
    candidates: Any = None  # stack.candidates.Candidate list; None: built from the above
    checkpoint_dir: str = ""  # saved to the registry on a reclaim (runner/checkpoints.py)


@dataclass
class LaunchResult:
    record: RunnerRecord
    timings: dict[str, float]
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            **asdict(self.record),
            "reused": self.reused,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "machine": self.record.machine(),
        }

    def where(self) -> str:
        return self.record.where()


def _arm(session: Any, opts: LaunchOptions, agent: Any, forget: tuple[str, ...] = ()) -> None:
    from cmlinfra.runner.agents import UNIT
    from cmlinfra.runner.watchdog import WatchdogPolicy, render_install

    request = opts.request
    capabilities = session.prepared.cloud.info.capabilities
    policy = WatchdogPolicy(
        idle_timeout=opts.idle_timeout,
        max_ttl=request.max_ttl_seconds or 0,
        single=opts.single,
        interval=opts.watchdog_interval,
        agent_unit="" if capabilities.container else UNIT,  # the supervisor stops it there
        agent_user=agent.user,
        busy_probe=agent.busy_probe,
        unregister=agent.unregister,
        end_script=capabilities.watchdog_end,
        forget=forget,
    )
    with session.step("watchdog"):
        if capabilities.container:  # no systemd: a supervisor becomes the container's PID 1
            from cmlinfra.runner import supervisor

            session.root(supervisor.render_install(policy, agent), "supervisor-install")
            return
        session.root(render_install(policy), "watchdog-install")
        _watch_reclaims(session, policy, opts, agent.forge)
        session.root(agent.start_script(), "agent-start")


def _watch_reclaims(session: Any, policy: Any, opts: LaunchOptions, forge: str = "") -> None:
    """On a spot machine of a cloud that announces reclaims: the reclaim watcher, which on
    the notice stops the agent (no other job lands here), unregisters the runner and ends the
    machine (docs/reclaim.md)."""
    import os

    from cmlinfra.runner import reclaim
    from cmlinfra.runner.watchdog import LIB

    found = reclaim.interruption(session.prepared.cloud.info.capabilities)
    forced = bool(os.environ.get("CMLINFRA_INTERRUPTION", "").strip())
    if found is None or not (session.prepared.machine.request.spot or forced):
        return
    interruption, url = found
    upload = ""
    if opts.checkpoint_dir:  # the presigned URLs the watcher uploads the checkpoint to
        from cmlinfra.runner import checkpoints

        upload = checkpoints.send(session, opts.request.max_ttl_seconds or 0)
    watch = reclaim.Watch(
        interruption,
        url,
        checkpoint_dir=opts.checkpoint_dir,
        runner=True,
        agent_unit=policy.agent_unit,
        end_script=policy.end_script,
        upload=upload,
        step_root=watch_steps(forge) if opts.checkpoint_dir else "",
    )
    session.root(reclaim.install_script(watch, policy.agent_user, LIB), "reclaim-watch")


def watch_steps(forge: str) -> str:
    """Where the watcher finds the running step's folder itself: Bitbucket's runner has no job
    hooks to say (reclaim.sh.j2, find_step); "" where the hooks say."""
    from cmlinfra.runner.agents import BITBUCKET_WORKDIR

    return BITBUCKET_WORKDIR if forge == "bitbucket" else ""


@dataclass(frozen=True)
class Checked:
    """What every runner of one launch shares, found before anything is created."""

    context: Any  # cmlinfra.forges.context.ForgeContext
    forge: Any  # a Forge whose token may register runners here
    store: RunnerStore
    dvc: Any = None  # cmlinfra.runner.dvc.DvcPlan with --dvc


def check(opts: LaunchOptions) -> Checked:
    """The checks that need no machine: options, the forge (reached, token accepted) and the
    runner registry. Also starts work ahead (``runner/ahead.py``), so it overlaps them."""
    from cmlinfra.forges import connect, labels
    from cmlinfra.forges.context import detect
    from cmlinfra.runner import ahead
    from cmlinfra.runner.checkpoints import check as check_checkpoint

    check_checkpoint(opts)  # before anything: the registry, the cloud, spot
    ahead.start(opts.terraform)
    if opts.idle_timeout == 0 and not opts.single and not opts.request.max_ttl_seconds:
        raise UsageError(
            "--idle-timeout never without --single or --max-ttl would never end",
            "add --max-ttl (e.g. 24h) so the machine cannot run forever",
        )
    dvc = None
    if opts.dvc:  # no remote, a local one, a missing key file: one line, before the forge
        from pathlib import Path

        from cmlinfra.runner import dvc_runner

        dvc = dvc_runner.plan(Path(opts.dvc_root), opts.dvc_remote, opts.request)
    context = detect(driver=opts.driver, repo=opts.repo, token=opts.token, owner_ok=True)
    labels.check(context.driver, opts.labels)  # they reach the forge and the agent's env file
    check_checkpoint(opts, context.driver)
    context = context.in_runner_group(opts.runner_group)
    forge = connect(context)
    store = open_store(opts.state)
    if opts.checkpoint_dir:  # these credentials can presign the watcher's upload URLs
        from cmlinfra.runner.checkpoint_urls import check_store

        check_store(store)
    return Checked(context, forge, store, dvc)


def prepare(opts: LaunchOptions, checked: Checked) -> Any:
    """Every candidate machine checked against its cloud and ordered (nothing created yet;
    a ``cmlinfra.stack.failover.Failover``); then the forge access: a wrong organization,
    group or repository, a token without the runner permission or an unknown runner group
    fails here with the forge's one-line error instead of after a machine has been paid for
    (GitLab also settles project vs group)."""
    from cmlinfra.clouds.tags import RUNNER_ROLE, with_role
    from cmlinfra.stack import candidates, failover

    plan = failover.plan(
        opts.cloud,
        opts.request,
        opts.candidates or candidates.build(opts.request, opts.cloud, opts.spot or None),
        terraform=opts.terraform,
        state=opts.state,
        role=lambda request: with_role(request, RUNNER_ROLE),  # gc: no record, it is garbage
    )
    plan.lookup()
    checked.forge.check_runner_access()
    name_free(checked.forge, opts.request.name)
    return plan


def begin(opts: LaunchOptions, checked: Checked, prepared: Any, plan: Any = None) -> Any:
    """Lock the runner's name and write its record: from here on a failure tears down.
    ``plan``: the failover whose candidates ``apply()`` tries (None: ``prepared`` only)."""
    from cmlinfra.runner.machine import Session

    session = Session.begin(
        checked.store,
        prepared,
        mode="runner",
        labels=opts.labels,
        single=opts.single,
        idle_timeout=opts.idle_timeout,
        forge=checked.forge,  # registered at its context: repository, scope, web and API base
    )
    session.failover = plan
    if opts.no_retry:
        session.record.no_retry = True
        session.save()
    return session


def bring_up(session: Any, opts: LaunchOptions, dvc: Any = None) -> None:
    """Machine → SSH → bootstrap → registration → (``--dvc``: DVC for the agent's user) →
    watchdog armed → agent started; the SSH connection is closed at the end. The forge's
    registration is asked for the moment terraform has created the machine, and overlaps its
    boot, the SSH wait and the bootstrap. Raises on failure (the caller tears down)."""
    from cmlinfra.runner.registration import Pending

    started = time.monotonic()
    pending = Pending(
        session.forge, name=session.record.name, labels=opts.labels, single=opts.single
    )
    session.on_created = pending.start
    try:
        address = session.apply()
        pending.start()  # where the cloud did not call it (a no-op where it did)
        _set_up(session, opts, address, pending, dvc)
    except BaseException:
        pending.settle(session.record)  # the teardown that follows must see the runner
        raise
    session.timings["total"] = time.monotonic() - started
    session.close_ssh()


def _set_up(session: Any, opts: LaunchOptions, address: Any, pending: Any, dvc: Any) -> None:
    from cmlinfra.bootstrap.startup import startup_step
    from cmlinfra.bootstrap.steps import Options, build_steps

    session.connect(address)
    gpu = session.prepared.machine.gpu_count > 0
    options = Options(gpu=gpu, runner_agent=_agent_install(session.forge.name))
    only = list(opts.bootstrap_steps) or None
    if session.prepared.cloud.info.capabilities.container:  # the node has driver and runtime
        from cmlinfra.runner.supervisor import bootstrap_only

        only = bootstrap_only(options, opts.bootstrap_steps)
    steps = build_steps(options, only=only)
    if opts.startup_script is not None:
        steps.append(startup_step(opts.startup_script))
    session.bootstrap(steps)
    agent = pending.set_up_agent(session, labels=opts.labels, single=opts.single)
    forget: tuple[str, ...] = ()
    if dvc is not None:  # after the agent's user exists, before any job can start
        from cmlinfra.runner import dvc_runner

        forget = dvc_runner.setup(session, dvc, agent.user)
    _arm(session, opts, agent, forget)


def launch(opts: LaunchOptions) -> LaunchResult:
    from cmlinfra.runner.signals import cancellable

    checked = check(opts)
    found = reusable(checked.store, opts, checked.forge)
    if found is not None:
        return LaunchResult(found, {}, reused=True)
    plan = prepare(opts, checked)
    session = begin(opts, checked, plan.options[0].prepared, plan)
    with cancellable():
        try:
            bring_up(session, opts, checked.dvc)
            session.handed_over()
        except BaseException as exc:
            raise session.fail(exc) from None
    return LaunchResult(session.record, session.timings)


def _agent_install(forge: str) -> str:
    import os

    from cmlinfra.runner.agents import STANDIN_VARIABLE

    return "none" if os.environ.get(STANDIN_VARIABLE) == "1" else forge
