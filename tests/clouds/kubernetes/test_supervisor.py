"""The runner supervisor as a pod's PID 1, in pods of the API fake (real processes in their own
PID and mount namespaces, made from the gpu-runner module's manifest with its default command):
the main process hands over to it, it starts the agent (the test stand-in) as the agent's user
with the registration material from the projected Secret in its environment only, follows the
watchdog's decisions (single job done, idle, max TTL), restarts an agent that fails, and on each
end — or on the SIGTERM of a deletion — stops the agent, runs the unregister step and ends the
pod, so the Job completes and its Secret goes with it.

The unregister step here is a test script that appends to a file outside the container's
private paths (the fake's containers share the rest of the host's filesystem), so its run is
seen even after the pod is gone."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.base import MachineAddress
from cmlinfra.clouds.kubernetes import INFO
from cmlinfra.clouds.kubernetes.api import Api
from cmlinfra.clouds.kubernetes.cloud import KubernetesCloud
from cmlinfra.clouds.kubernetes.pods import Waits, wait_running
from cmlinfra.errors import CmlinfraError
from cmlinfra.forges.base import RunnerRegistration
from cmlinfra.runner import supervisor
from cmlinfra.runner.agents import ENV_FILE, STANDIN_VARIABLE, AgentPlan, plan_agent
from cmlinfra.runner.watchdog import LIB, WatchdogPolicy, render_template
from cmlinfra.secrets import Secret
from tests.clouds.kubernetes.manifests import DEFAULT_COMMAND
from tests.clouds.kubernetes.test_cluster import create, deadline_wait, remove
from tests.kube_server import KubeServer

MATERIAL = "jit-config-c2VjcmV0LXN1cGVydmlzb3I="


@dataclass
class Pod:
    name: str
    transport: Any
    kube: KubeServer
    evidence: Path  # the unregister step appends here

    def job(self) -> dict[str, Any]:
        return self.kube.cluster.get("jobs", "ci", self.name) or {}

    def finished(self) -> str:
        conditions = (self.job().get("status") or {}).get("conditions") or []
        return next((c["type"] for c in conditions if c["type"] in ("Complete", "Failed")), "")

    def log(self) -> str:
        (pod,) = [
            p
            for p in self.kube.cluster.list("pods", "ci")
            if p["metadata"]["labels"].get("job-name") == self.name
        ]
        return str(Api().core.read_namespaced_pod_log(pod["metadata"]["name"], "ci"))

    def unregistered(self) -> list[str]:
        return self.evidence.read_text().splitlines() if self.evidence.exists() else []

    def sh(self, command: str) -> str:
        result = self.transport.run(command, timeout=60)
        assert result.exit_code == 0, result.tail
        return "\n".join(result.tail)


def root(transport: Any, script: str, name: str) -> None:
    """What the launcher's Session.root does: the script as a file, run by bash as root."""
    remote = transport.put_file(script.encode(), f"{name}.sh", 0o700)
    result = transport.run(f"bash {remote}", timeout=300)
    if result.exit_code != 0:
        raise CmlinfraError(f"{name} failed: {' / '.join(result.tail[-3:])}")


@pytest.fixture
def evidence() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="cmlinfra-unregister-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def supervised(kube: KubeServer, evidence: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``supervised(name, agent=None, job=…, **policy)``: a Job of the module's manifest with
    its default command, the registration Secret, the agent's files, and the supervisor
    installed — what ``runner launch`` does after apply."""
    monkeypatch.setenv(STANDIN_VARIABLE, "1")
    made: list[str] = []

    def start(name: str, agent: AgentPlan | None = None, job: Any = None, **policy: Any) -> Pod:
        create(name, command=DEFAULT_COMMAND, **(job or {"ttl_seconds_after_finished": 300}))
        made.append(name)
        api = Api()
        pod = wait_running(api, "ci", name, Waits(5, 30))
        address = MachineAddress(pod.metadata.name, 443, "root", f"ci/{name}")
        transport = KubernetesCloud(api).connect(address)
        registration = RunnerRegistration("github", "jit-config", "u", Secret(MATERIAL), "1")
        plan = agent or plan_agent(registration, name=name, labels=["cml"], single=True)
        transport.put_secret(plan.env, ENV_FILE)
        root(transport, plan.setup_script(systemd=False), "agent-setup")
        proof = evidence / name
        unregister = f'#!/bin/sh\necho "unregistered as $(id -un) $(date +%s)" >>{proof}\n'
        rules = WatchdogPolicy(
            **{
                "interval": 1,
                "agent_user": plan.user,
                "unregister": unregister,
                "end_script": INFO.capabilities.watchdog_end,
                **policy,
            }
        )
        root(transport, supervisor.render_install(rules, plan), "supervisor-install")
        return Pod(name, transport, kube, proof)

    yield start
    for name in made:
        remove(name)


def test_idle_and_max_ttl_end_the_pod(supervised: Any) -> None:
    idle = supervised("sup-idle", idle_timeout=3)
    ttl = supervised("sup-ttl", idle_timeout=0, max_ttl=5)
    # a job keeps the TTL-bound one busy: max TTL ends it anyway, job and all
    ttl.sh(f"setpriv --reuid=runner --regid=runner --init-groups bash {LIB}/job-started.sh")
    assert deadline_wait(idle.finished, 30) == "Complete"
    assert deadline_wait(ttl.finished, 30) == "Complete"
    assert "ending (idle)" in idle.log() and "ending (max-ttl)" in ttl.log()
    assert len(idle.unregistered()) == len(ttl.unregistered()) == 1


def test_a_deletion_stops_the_agent_and_unregisters(supervised: Any, kube: KubeServer) -> None:
    """SIGTERM (what a deletion, gc's, or the Job's deadline sends PID 1): the same end."""
    pod = supervised("sup-term", idle_timeout=3600)
    remove("sup-term")  # the inventory's delete, as gc does it
    assert deadline_wait(pod.unregistered, 30)


def test_a_failing_agent_is_restarted_and_one_that_exits_ends_the_pod(supervised: Any) -> None:
    """Restart=on-failure as systemd does it (after RestartSec); an agent that is gone for good
    ends the pod, since nothing could run a job there any more."""
    script = (
        "#!/bin/sh\n"
        "n=$(cat starts 2>/dev/null || echo 0); echo $((n + 1)) >starts\n"
        '[ "$n" -ge 1 ] || exit 3\n'
    )
    agent = custom_agent(script, restart="on-failure")
    pod = supervised("sup-exit", agent=agent, idle_timeout=3600)
    assert deadline_wait(pod.finished, 30) == "Complete"
    log = pod.log()
    assert "exited with status 3; restarting it in 1 s" in log and "ending (agent-exited)" in log
    assert len(pod.unregistered()) == 1


def test_an_agent_that_cannot_start_fails_the_install(supervised: Any) -> None:
    agent = custom_agent("#!/bin/sh\nexec sleep 600\n", pre="/bin/false")
    with pytest.raises(CmlinfraError, match="pre-start command failed"):
        supervised("sup-pre", agent=agent, idle_timeout=3600)


def custom_agent(script: str, *, restart: str = "no", pre: str = "") -> AgentPlan:
    """An agent of the shape agents.py makes, with ``script`` as its program."""
    path = f"{LIB}/agent-test"
    unit = render_template(
        "agent.service.j2",
        forge="github",
        user="runner",
        workdir="/home/runner",
        env_file=ENV_FILE,
        hook_started=f"{LIB}/job-started.sh",
        hook_completed=f"{LIB}/job-completed.sh",
        exec=path,
        restart=restart,
        pre=pre,
    )
    unit = unit.replace("RestartSec=5", "RestartSec=1")  # what the supervisor reads back
    return AgentPlan(
        forge="github",
        install="none",
        user="runner",
        env=Secret(f"CMLINFRA_REGISTRATION={MATERIAL}\n"),
        files={
            path: ("0755", script),
            "/etc/systemd/system/cmlinfra-agent.service": ("0644", unit),
        },
    )
