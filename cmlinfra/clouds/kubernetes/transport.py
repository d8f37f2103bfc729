"""A pod as a :class:`~cmlinfra.bootstrap.transport.Transport`: commands, files and secrets
through the Kubernetes API's ``exec`` — no SSH, no open port.

Each command is one exec session (``v5.channel.k8s.io`` over a websocket, as ``kubectl exec``
uses since 1.30; the client falls back to v4 where the server has no v5): output streams line
by line as it comes, and the exit code is the one the API reports on its error channel. Files
travel the way ``kubectl cp`` moves them, as bytes on the session's stdin and stdout, with
stdin closed (v5's close signal) to end them; nothing is ever put on a command line.

A secret for the pod's secret directory (``/etc/cmlinfra/secrets``: the agent's environment
file) is created as a Kubernetes Secret owned by the Job — it dies with the Job, never enters
Terraform's state — which the kubelet projects into the pod; other secret paths are written
through stdin into a root-only file.
"""

from __future__ import annotations

import base64
import shlex
import time
from collections import deque
from typing import Any

from cmlinfra.bootstrap.transport import CommandResult, ConnectionLost, LineSink, StepTimeout
from cmlinfra.clouds.kubernetes.api import Api
from cmlinfra.clouds.kubernetes.tags import COMPONENT, MANAGED_BY, SECRET_MOUNT
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.secrets import Secret, redact

TAIL_LINES = 30
BOOTSTRAP_DIR = "${HOME:-/root}/.cmlinfra/bootstrap"
SECRET_WAIT_ENV = "CMLINFRA_KUBERNETES_SECRET_WAIT"  # how long the kubelet may take


class PodTransport:
    """One container of one pod, reached through the API's exec."""

    def __init__(
        self,
        api: Api,
        namespace: str,
        pod: str,
        *,
        job: dict[str, Any],
        container: str = "runner",
        secret_wait: float = 180.0,
    ) -> None:
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        self.job = job  # {"name", "uid", "labels", "secret"}: the owner of the Secret
        self.name = pod
        self.secret_wait = secret_wait

    # -- exec -------------------------------------------------------------------------------

    def _open(self, argv: list[str], stdin: bool) -> Any:
        from kubernetes.stream import stream

        return self.api.call(
            f"exec in pod {self.pod}",
            stream,
            self.api.core.connect_get_namespaced_pod_exec,
            self.pod,
            self.namespace,
            container=self.container,
            command=argv,
            stdin=stdin,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )

    def _session(
        self, argv: list[str], *, data: bytes | None, timeout: float, on_chunk: Any
    ) -> int:
        """Run ``argv`` with ``data`` on stdin (then closed), handing (channel, bytes) to
        ``on_chunk`` as they come; return the exit code the API reports."""
        deadline = time.monotonic() + timeout
        ws = self._open(argv, stdin=data is not None)
        try:
            if data is not None:
                for offset in range(0, len(data), 1 << 16) or [0]:
                    ws.write_stdin(data[offset : offset + (1 << 16)])
                ws.close_channel(0)
            while ws.is_open():
                if time.monotonic() > deadline:
                    raise StepTimeout(
                        f"{self.name}: command ran past its {timeout:.0f}s timeout",
                        "raise --timeout or look at the output above",
                    )
                ws.update(timeout=0.5)
                for channel in (1, 2):
                    chunk = ws.read_channel(channel)
                    if chunk:
                        on_chunk(channel, chunk)
            for channel in (1, 2):
                chunk = ws.read_channel(channel)
                if chunk:
                    on_chunk(channel, chunk)
            error = ws.read_channel(3)
        except (OSError, EOFError) as exc:
            raise ConnectionLost(f"exec in pod {self.pod} lost: {exc}", "re-run") from None
        finally:
            ws.close()
        return _exit_code(error, self.pod)

    def run(
        self, command: str, *, timeout: float, on_line: LineSink | None = None
    ) -> CommandResult:
        start = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        pending = {1: b"", 2: b""}
        skipped = False

        def emit(raw: bytes) -> None:
            nonlocal skipped
            line = redact(raw.decode("utf-8", "replace").rstrip("\r"))
            skipped = skipped or line.startswith("skip: ")
            tail.append(line)
            if on_line is not None:
                on_line(line)

        def chunk(channel: int, data: bytes) -> None:
            pending[channel] += data
            *lines, pending[channel] = pending[channel].split(b"\n")
            for raw in lines:
                emit(raw)

        # the remote timeout is a backstop for a dropped session; the local deadline reports
        inner = f"timeout -k 10 {int(timeout) + 5} bash -c {shlex.quote(command)}"
        code = self._session(["bash", "-c", inner], data=None, timeout=timeout, on_chunk=chunk)
        for rest in pending.values():
            if rest:
                emit(rest)
        return CommandResult(code, tuple(tail), time.monotonic() - start, skipped)

    # -- files ------------------------------------------------------------------------------

    def _write(self, data: bytes, target: str, mode: int, what: str) -> str:
        """Write stdin to ``target`` (shell text: may use $HOME) atomically; its real path."""
        script = (
            f'set -e; umask 077; t={target}; mkdir -p "$(dirname "$t")"; '
            f'cat >"$t.partial"; chmod {mode:o} "$t.partial"; mv -f "$t.partial" "$t"; '
            'printf "%s" "$t"'
        )
        out: list[bytes] = []
        code = self._session(
            ["sh", "-c", script],
            data=data,
            timeout=300,
            on_chunk=lambda channel, chunk: out.append(chunk) if channel == 1 else None,
        )
        if code != 0:
            raise CmlinfraError(f"{self.name}: {what} failed (exit {code})", "check the pod")
        return b"".join(out).decode()

    def put_file(self, data: bytes, path: str, mode: int = 0o644) -> str:
        return self._write(
            data, f'"{BOOTSTRAP_DIR}"/{shlex.quote(path)}', mode, f"uploading {path}"
        )

    def get_file(self, path: str) -> bytes:
        """The bytes of ``path`` in the pod, as ``kubectl cp`` reads them (stdout of exec)."""
        out: list[bytes] = []
        errors: list[bytes] = []
        code = self._session(
            ["cat", "--", path],
            data=None,
            timeout=600,
            on_chunk=lambda channel, chunk: (out if channel == 1 else errors).append(chunk),
        )
        if code != 0:
            why = b"".join(errors).decode("utf-8", "replace").strip() or f"exit {code}"
            raise CmlinfraError(f"{self.name}: reading {path} failed: {why}", "check the path")
        return b"".join(out)

    def put_secret(self, secret: Secret, path: str) -> None:
        if not path.startswith("/"):
            raise UsageError(f"secret path {path!r} is not absolute", "give an absolute path")
        folder, _, key = path.rpartition("/")
        if folder != SECRET_MOUNT:
            self._write(secret.reveal().encode(), shlex.quote(path), 0o600, "writing a secret")
            return
        self._store_secret(key, secret)
        self._await_file(path)

    def _store_secret(self, key: str, secret: Secret) -> None:
        """The Job's registration Secret with ``key`` set, owned by the Job."""
        from kubernetes import client

        name = self.job["secret"]
        labels = {**self.job["labels"], MANAGED_BY[0]: MANAGED_BY[1], COMPONENT: "registration"}
        body = client.V1Secret(
            api_version="v1",
            kind="Secret",
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=self.namespace,
                labels=labels,
                owner_references=[
                    client.V1OwnerReference(
                        api_version="batch/v1",
                        kind="Job",
                        name=self.job["name"],
                        uid=self.job["uid"],
                        block_owner_deletion=True,
                    )
                ],
            ),
            type="Opaque",
            data={key: base64.b64encode(secret.reveal().encode()).decode()},
        )
        api = self.api
        existing = api.call(
            f"reading secret {name}",
            api.core.read_namespaced_secret,
            name,
            self.namespace,
            missing_ok=True,
        )
        if existing is None:
            api.call(
                f"creating secret {name}", api.core.create_namespaced_secret, self.namespace, body
            )
        else:
            body.data = {**(existing.data or {}), **body.data}
            body.metadata.resource_version = existing.metadata.resource_version
            api.call(
                f"updating secret {name}",
                api.core.replace_namespaced_secret,
                name,
                self.namespace,
                body,
            )

    def _await_file(self, path: str) -> None:
        """The kubelet projects a Secret into the pod on its own schedule (seconds to a
        minute): wait, with a deadline, until the file is there."""
        deadline = time.monotonic() + self.secret_wait
        while True:
            if self.run(f"test -s {shlex.quote(path)}", timeout=60).exit_code == 0:
                return
            if time.monotonic() > deadline:
                raise CmlinfraError(
                    f"{self.name}: the registration Secret did not reach the pod in "
                    f"{self.secret_wait:.0f}s ({path})",
                    f"check the pod's secret volume; raise ${SECRET_WAIT_ENV}",
                )
            time.sleep(2)  # the kubelet's sync has no callback

    # -- lifecycle --------------------------------------------------------------------------

    def reboot(self, deadline: float) -> None:
        raise CmlinfraError(
            f"{self.name} is a pod: it cannot reboot",
            "a container has no kernel driver to install: drop the step that asked for it",
        )

    def close(self) -> None:
        """Nothing to close: every command is its own exec session."""

    def __enter__(self) -> PodTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _exit_code(error: bytes | str, pod: str) -> int:
    """The API's Status on the error channel: Success → 0, else its ExitCode cause."""
    import json

    text = error.decode() if isinstance(error, bytes) else error
    if not text:
        raise ConnectionLost(f"exec in pod {pod} ended without a status", "re-run")
    status = json.loads(text)
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise CmlinfraError(f"exec in pod {pod} failed: {status.get('message')}", "check the pod")
