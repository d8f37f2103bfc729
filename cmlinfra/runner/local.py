"""``runner launch`` without ``--cloud``: register *this* machine as a runner, as CML does.

CML's on-premise runner (``cml runner launch --labels=gpu`` on a workstation, or as the main
process of a container) runs the agent in the foreground and ends by itself. So does this:

1. the forge is asked first (``--reuse``/``--reuse-idle``, a name already taken, the token's
   right to register runners), before anything is installed;
2. the runner agent's bootstrap step (and any ``--bootstrap-steps``) runs here through
   :class:`~cmlinfra.bootstrap.local.LocalTransport` — skipped when the agent is installed;
3. the forge gives short-lived registration material (a JIT config for ``--single`` on GitHub),
   handed to the agent in its environment, never on a command line; the user's forge tokens are
   removed from the environment the agent and its jobs inherit;
4. the node watchdog's own scripts follow the jobs (the agent's job hooks, or its child
   processes) under a private root, without power-off: the launcher asks them after each
   interval whether the runner must go (idle timeout, ``--single``'s job done, ``--max-ttl``);
5. then, or on SIGTERM/SIGINT, or when the agent exits, the agent is stopped and the runner
   unregistered at the forge, and the command returns.

Nothing is written to the runner registry: the machine is not cmlinfra's to destroy, and
``gc`` must never touch it. The work files live in ``$CMLINFRA_HOME/local/NAME``, removed at
the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.runner.signals import Cancelled, cancellable, shielded
from cmlinfra.ui import progress

# variables a job on this runner must not inherit from the launcher: the user's forge tokens
SECRET_VARIABLES = (
    "REPO_TOKEN", "repo_token", "GITHUB_TOKEN", "GITLAB_TOKEN", "BITBUCKET_TOKEN", "CI_JOB_TOKEN",
)  # fmt: skip


@dataclass(frozen=True)
class LocalOptions:
    name: str
    labels: list[str]
    idle_timeout: int
    single: bool = False
    max_ttl: int = 0
    driver: str | None = None
    repo: str | None = None
    token: str | None = None
    runner_group: str = ""
    reuse: bool = False
    reuse_idle: bool = False
    no_retry: bool = False  # recorded; re-running a lost job is the failover's (docs)
    bootstrap_steps: tuple[str, ...] = ()
    interval: int = 15


def clean_environment(env: dict[str, str]) -> dict[str, str]:
    """The launcher's environment less every forge and CI job token (the shared list,
    :func:`cmlinfra.secrets.scrubbed_environment`), and CML's ``*_TOKEN`` options too."""
    from cmlinfra.secrets import scrubbed_environment

    return {
        k: v
        for k, v in scrubbed_environment(env).items()
        if k not in SECRET_VARIABLES and not (k.startswith("CML_") and k.endswith("TOKEN"))
    }


def run_local(opts: LocalOptions) -> dict[str, Any]:
    """Register this machine, run the agent until the runner must go; returns what happened."""
    from cmlinfra.forges import connect, labels
    from cmlinfra.forges.context import detect
    from cmlinfra.runner.reuse import name_free, reusable_at_forge

    context = detect(driver=opts.driver, repo=opts.repo, token=opts.token, owner_ok=True)
    labels.check(context.driver, opts.labels)  # as each forge defines them, before anything
    forge = connect(context.in_runner_group(opts.runner_group))
    if opts.reuse or opts.reuse_idle:
        found = reusable_at_forge(forge, opts.name, opts.labels, opts.reuse, opts.reuse_idle)
        if found is not None:
            progress(f"reusing runner {found.name} ({', '.join(found.labels)})")
            return {"name": found.name, "reused": True, "reason": "reused", "cloud": "local"}
    forge.check_runner_access()
    name_free(forge, opts.name)
    _install(opts, forge.name)
    home = _home(opts.name)
    runner_id = ""
    # From the registration on, a SIGTERM (the CI job cancelled the moment the runner showed up)
    # must still unregister it: the default action would end the process with it registered.
    try:
        with cancellable():
            registration = forge.runner_registration(
                name=opts.name, labels=opts.labels, jit=opts.single
            )
            runner_id = registration.runner_id
            progress(
                f"registered runner {opts.name} ({', '.join(opts.labels)}) at {context.repo_url}"
            )
            reason = _serve(opts, registration, home)
    except Cancelled as exc:
        reason = signal.Signals(exc.signum).name
    finally:
        with shielded():  # a second signal waits for the unregistration
            _unregister(forge, opts.name, runner_id)
            shutil.rmtree(home, ignore_errors=True)
    return {"name": opts.name, "reused": False, "reason": reason, "cloud": "local"}


def _home(name: str) -> Path:
    from cmlinfra.stack.store import home

    path = home() / "local" / name
    if path.exists():
        raise CmlinfraError(
            f"a local runner named {name!r} is running from {path}, or one crashed there",
            "pick another --name, or remove that folder if no such runner runs",
        )
    path.mkdir(parents=True, mode=0o700)
    return path


def _install(opts: LocalOptions, forge: str) -> None:
    """The agent's bootstrap step (and ``--bootstrap-steps``), here; a no-op when installed."""
    from cmlinfra.bootstrap.local import LocalTransport
    from cmlinfra.bootstrap.run import HostResult, run_steps
    from cmlinfra.bootstrap.steps import Options, build_steps
    from cmlinfra.runner.local_agents import standin

    agent = "none" if standin() else forge
    only = list(opts.bootstrap_steps) or (["runner-agent"] if agent != "none" else [])
    if not only:
        return
    steps = build_steps(Options(gpu="nvidia-driver" in only, runner_agent=agent), only=only)
    transport = LocalTransport()
    try:
        result = run_steps(transport, steps, HostResult("localhost", "localhost"), timeout=1800)
    finally:
        transport.close()
    if not result.ok:
        raise CmlinfraError(result.error or "installing the runner agent failed")


def _scripts(opts: LocalOptions, root: Path, busy_probe: str) -> Path:
    """The watchdog and job hooks under ``root`` (their CMLINFRA_ROOT); returns the watchdog."""
    from cmlinfra.runner.watchdog import LIB, WatchdogPolicy, render_scripts

    policy = WatchdogPolicy(
        idle_timeout=opts.idle_timeout,
        max_ttl=opts.max_ttl,
        single=opts.single,
        interval=opts.interval,
        busy_probe=busy_probe,
        end_script="",  # this machine is the user's own: never powered off
    )
    lib = root / LIB.lstrip("/")
    lib.mkdir(parents=True)
    for name, (mode, text) in render_scripts(policy).items():
        (lib / name).write_text(text)
        (lib / name).chmod(int(mode, 8))
    return lib / "watchdog"


def _serve(opts: LocalOptions, registration: Any, home: Path) -> str:
    """Run the agent until the watchdog, a signal or the agent itself ends it; the reason."""
    from cmlinfra.runner.local_agents import local_agent
    from cmlinfra.runner.watchdog import HOOK_COMPLETED, HOOK_STARTED, parse_status

    agent = local_agent(registration, name=opts.name, labels=opts.labels, home=home)
    for path, text in agent.files.items():
        path.write_text(text)
    root = home / "root"
    watchdog = _scripts(opts, root, agent.busy_probe)
    env = clean_environment(dict(os.environ))
    env.update(agent.env)
    env["CMLINFRA_ROOT"] = str(root)
    env["ACTIONS_RUNNER_HOOK_JOB_STARTED"] = str(root / HOOK_STARTED.lstrip("/"))
    env["ACTIONS_RUNNER_HOOK_JOB_COMPLETED"] = str(root / HOOK_COMPLETED.lstrip("/"))
    watch_env = {**clean_environment(dict(os.environ)), "CMLINFRA_ROOT": str(root)}
    subprocess.run(["bash", str(watchdog), "arm"], env=watch_env, check=True, timeout=60)
    for command in agent.commands[:-1]:
        done = subprocess.run(command, env=env, cwd=agent.cwd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CmlinfraError(f"{Path(command[0]).name} failed: {last[0]}")
    stop = threading.Event()
    reason: list[str] = []

    def on_signal(signum: int, frame: object) -> None:
        reason.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    proc = subprocess.Popen(
        agent.commands[-1],
        env=env,
        cwd=agent.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    threading.Thread(target=_relay, args=(proc,), daemon=True).start()
    watch_env["CMLINFRA_AGENT_PID"] = str(proc.pid)
    progress(f"runner {opts.name} is waiting for jobs (agent pid {proc.pid})")
    try:
        while not reason:
            if stop.wait(opts.interval):
                break
            code = proc.poll()
            if code is not None:
                reason.append(f"the agent exited with status {code}")
                if code != 0:
                    raise CmlinfraError(
                        f"the runner agent exited with status {code}", "see its output above"
                    )
                break
            status = subprocess.run(
                ["bash", str(watchdog), "observe"],
                env=watch_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            decision = parse_status(status.stdout).get("decision", "keep")
            if decision != "keep":
                reason.append(decision)
    finally:
        from cmlinfra.terraform.process import stop_group

        stop_group(proc, grace=30.0)  # the agent's group: its jobs too
        for sig, old in previous.items():
            signal.signal(sig, old)
    progress(f"runner {opts.name} is done: {reason[0] if reason else 'stopped'}")
    return reason[0] if reason else "stopped"


def _relay(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        progress(f"[agent] {line.rstrip()}")


def _unregister(forge: Any, name: str, runner_id: str) -> None:
    """Remove the runner at the forge; one the forge already removed (a GitHub JIT runner after
    its job) is fine. A failure is a warning: 'cmlinfra gc' cannot see a local runner, so the
    line says how to remove it."""
    try:
        present = [
            r for r in forge.list_runners() if r.name == name or (runner_id and r.id == runner_id)
        ]
        for runner in present:
            forge.remove_runner(runner.id)
        progress(f"unregistered runner {name}")
    except CmlinfraError as exc:
        progress(
            f"warning: could not unregister {name} ({exc.problem}); remove it in the "
            "forge's runner settings"
        )
