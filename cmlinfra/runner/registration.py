"""The forge's runner registration, asked for while the machine boots.

Registering is one or two round trips to the forge (GitHub's ``generate-jitconfig`` or a
registration token, GitLab's ``POST /user/runners``, Bitbucket's runner creation): from a CI
job on a hosted runner, a few hundred milliseconds each. Nothing in them depends on the
machine, so ``runner launch`` asks the moment terraform has created it (``stack.service.apply``
calls back before it waits for the address and host keys), and waits for the answer only
where it is used, after the boot, the SSH wait and the bootstrap. On a cloud those take tens of
seconds, so the registration costs nothing there; before, it followed them.

Asking only once a machine exists keeps what a refused request leaves behind unchanged: a
launch that fails at its checks, or that terraform refuses, never reaches the forge's runner
API. One that fails later waits here for the registration to end (:meth:`Pending.settle`), so
the teardown always sees the runner it must remove: by its id when the answer came, else by
name.
"""

from __future__ import annotations

import threading
from typing import Any

from cmlinfra.trace import span


class Pending:
    """One registration, asked for in its own thread by :meth:`start` (not a daemon: an HTTP
    request is never cut off mid-way; each has the forge client's own timeout)."""

    def __init__(self, forge: Any, *, name: str, labels: list[str], single: bool) -> None:
        self._answer: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._ask,
            args=(forge, name, list(labels), single),
            name=f"registration-{name}",
        )
        self._started = threading.Lock()

    def start(self) -> None:
        """Ask the forge, once: later calls (another failover candidate's machine) do nothing."""
        if self._started.acquire(blocking=False):
            self._thread.start()

    def _ask(self, forge: Any, name: str, labels: list[str], single: bool) -> None:
        try:
            with span("forge: runner registration"):
                self._answer = forge.runner_registration(name=name, labels=labels, jit=single)
        except BaseException as exc:  # raised where the answer is used: result()
            self._error = exc

    def result(self) -> Any:
        """The forge's answer (a ``RunnerRegistration``), or its error raised here."""
        self._wait()
        if self._error is not None:
            raise self._error
        return self._answer

    def set_up_agent(self, session: Any, *, labels: list[str], single: bool) -> Any:
        """The ``registration`` step: the forge's answer kept in the record, the agent's
        secret (a root-only file, over SFTP) and its user, unit and files; the agent's plan
        (``runner/agents.py``) returned for the watchdog, which starts it."""
        from cmlinfra.runner.agents import ENV_FILE, plan_agent

        record = session.record
        with session.step("registration"):
            registration = self.result()
            record.runner_id, record.scope = registration.runner_id, registration.scope
            session.save()
            agent = plan_agent(registration, name=record.name, labels=labels, single=single)
            with span("secret: agent environment"):
                session.ssh.put_secret(agent.env, ENV_FILE)
            systemd = not session.prepared.cloud.info.capabilities.container
            session.root(agent.setup_script(systemd=systemd), "agent-setup")
        return agent

    def settle(self, record: Any) -> None:
        """After a failure elsewhere: wait for the forge's answer and put the runner's id in
        ``record``, so the teardown removes exactly that runner (without an id it looks the
        name up, which a registration still in flight would escape)."""
        self._wait(ignore_interrupts=True)
        if self._answer is not None and not record.runner_id:
            record.runner_id, record.scope = self._answer.runner_id, self._answer.scope

    def _wait(self, *, ignore_interrupts: bool = False) -> None:
        """Join, waking twice a second so a signal or a ``--count`` launch's stop reaches the
        calling thread; while settling a failure those are held off until the answer came
        (the teardown that follows handles them), or the runner could be left registered."""
        if not self._started.locked():
            return  # never asked: nothing to wait for
        while self._thread.is_alive():
            try:
                self._thread.join(0.5)
            except BaseException:
                if not ignore_interrupts:
                    raise
