"""Running terraform in one stack directory: init, plan, apply, outputs, destroy, state.

Every command runs non-interactively (``-input=false``, ``TF_IN_AUTOMATION``), waits for a held
state lock up to ``lock_timeout`` instead of failing at once, and streams terraform's ``-json``
UI messages as progress lines. Errors come back as one :class:`CmlinfraError` that names the fix.
Nothing secret is ever put on terraform's command line: the configuration in ``workdir`` already
holds every value, and credentials reach terraform through its environment only.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret
from cmlinfra.terraform import diagnostics, process, selflock, served
from cmlinfra.terraform.backends import configured_backend
from cmlinfra.terraform.binary import TerraformBinary, environment
from cmlinfra.terraform.plan import (
    Applied,
    PlanSummary,
    stream_outputs,
    summarize_plan,
    summarize_stream,
)
from cmlinfra.trace import span

log = logging.getLogger("cmlinfra.terraform")

PLAN_FILE = "tfplan"
CLI_CONFIG_FILE = ".cmlinfra-terraformrc"
PROGRESS_TYPES = {
    "apply_start",
    "apply_progress",
    "apply_complete",
    "apply_errored",
    "planned_change",
    "change_summary",
}


def _default_progress(line: str) -> None:
    from cmlinfra.ui import progress

    progress(line)


class Workspace:
    """One terraform working directory whose configuration (``*.tf.json``) is already written.

    Not safe for two concurrent commands on the same ``workdir`` (they share ``.terraform`` and
    the saved plan); separate workdirs on the same backend are safe, the state lock serializes.
    """

    def __init__(
        self,
        binary: TerraformBinary,
        workdir: Path,
        *,
        plugin_cache_dir: Path | None = None,
        provider_mirror: Path | None = None,
        lock_timeout: str = "120s",
        env: Mapping[str, str] | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.binary = binary
        self.workdir = Path(workdir).absolute()
        self.plugin_cache_dir = plugin_cache_dir
        self.provider_mirror = provider_mirror
        self.lock_timeout = lock_timeout
        self.extra_env = dict(env or {})
        self.on_progress = on_progress or _default_progress

    # -- environment -------------------------------------------------------------------------

    def _cli_config(self) -> Path:
        """A CLI config that installs providers only from the filesystem mirror, so ``init``
        works with no network and never silently fetches something else."""
        mirror = Path(self.provider_mirror or "").absolute()
        path = self.workdir / CLI_CONFIG_FILE
        path.write_text(
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n  }}\n"
            "}\n"
        )
        return path

    def environment(self) -> dict[str, str]:
        env = environment(self.extra_env)  # no forge tokens
        for key in ("TF_WORKSPACE", "TF_DATA_DIR", "TF_CLI_ARGS"):
            env.pop(key, None)  # would change what and where we run
        env = {k: v for k, v in env.items() if not k.startswith("TF_CLI_ARGS_")}
        if self.plugin_cache_dir is not None:
            Path(self.plugin_cache_dir).mkdir(parents=True, exist_ok=True)
            env["TF_PLUGIN_CACHE_DIR"] = str(Path(self.plugin_cache_dir).absolute())
        if self.provider_mirror is not None:
            env["TF_CLI_CONFIG_FILE"] = str(self._cli_config())
        elif env.get("TF_CLI_CONFIG_FILE") and not Path(env["TF_CLI_CONFIG_FILE"]).is_file():
            env.pop("TF_CLI_CONFIG_FILE")  # a dangling setting only adds a warning to every run
        return env

    # -- running -----------------------------------------------------------------------------

    def _run(
        self,
        command: str,
        args: Sequence[str],
        *,
        stream: bool,
        quiet: frozenset[str] = frozenset(),
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> tuple[str, list[diagnostics.Diagnostic]]:
        """Run ``terraform COMMAND ARGS``; return stdout (when not streaming) and warnings.

        With ``stream``, stdout is the ``-json`` UI stream: progress and diagnostics are read
        line by line as terraform writes them. On Ctrl-C terraform gets SIGINT and time to stop
        cleanly, which releases the state lock (see :mod:`cmlinfra.terraform.process`).
        """
        argv = [str(self.binary.path), command, *args]
        log.debug("running %s in %s", " ".join(argv), self.workdir)
        what = f"terraform {command} {args[0]}" if command == "state" else f"terraform {command}"
        with process.directory_lock(self.workdir), span(what):
            for attempt in (1, 2):
                errors: list[diagnostics.Diagnostic] = []
                warnings: list[diagnostics.Diagnostic] = []

                def on_line(line: str, errors: list = errors, warnings: list = warnings) -> None:
                    self._handle(line, errors, warnings, quiet, on_message)

                env = self.environment()
                env.update(selflock.log_environment(self.binary, self.workdir, env))
                selflock.fresh_log(self.workdir)
                with served.for_command(command, self.workdir, env) as attach:
                    done = process.run(
                        argv,
                        cwd=self.workdir,
                        env={**env, **attach.env},
                        on_line=on_line if stream else None,
                        keep_fds=attach.fds,
                    )
                ours = selflock.lock_ids_attempted(self.workdir)
                if done.stderr.strip():
                    log.debug("terraform %s stderr: %s", command, done.stderr.strip())
                if done.returncode == 0:
                    break
                error = diagnostics.explain(
                    command, errors, done.stderr, configured_backend(self.workdir)
                )
                if not (
                    attempt == 1
                    and isinstance(error, diagnostics.StateLockedError)
                    and error.lock_id in ours
                ):
                    raise error
                self._release_own_lock(error.lock_id)
        if not stream:
            warnings.extend(
                d for d in diagnostics.from_text(done.stderr) if d.severity == "warning"
            )
        return done.stdout, warnings

    def _release_own_lock(self, lock_id: str) -> None:
        """Release a lock that the run which just failed took itself (see ``selflock``)."""
        self.on_progress(
            f"terraform: releasing state lock {lock_id}, left by this run after a lost reply "
            "from the lock store; retrying"
        )
        done = process.run(
            [str(self.binary.path), "force-unlock", "-force", lock_id],
            cwd=self.workdir,
            env=self.environment(),
        )
        if done.returncode != 0:
            raise diagnostics.explain(
                "force-unlock", [], done.stderr, configured_backend(self.workdir)
            )

    def _handle(
        self,
        line: str,
        errors: list[diagnostics.Diagnostic],
        warnings: list[diagnostics.Diagnostic],
        quiet: frozenset[str],
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            if line.strip():
                log.debug("terraform: %s", line.rstrip())
            return
        if not isinstance(message, dict):
            return
        if on_message is not None:
            on_message(message)
        kind = message.get("type")
        if kind == "diagnostic":
            diag = diagnostics.from_json(message.get("diagnostic") or {})
            (errors if diag.severity == "error" else warnings).append(diag)
            log.debug("terraform %s: %s", diag.severity, diag.text())
        elif kind in PROGRESS_TYPES and kind not in quiet:
            self.on_progress(str(message.get("@message", "")).strip())
        else:
            log.debug("terraform: %s", message.get("@message", "").strip())

    def _locking(self) -> list[str]:
        return ["-input=false", "-no-color", f"-lock-timeout={self.lock_timeout}"]

    # -- the API -----------------------------------------------------------------------------

    def init(self) -> None:
        """Install providers (cache/mirror) and connect to the backend."""
        if not any(self.workdir.glob("*.tf.json")) and not any(self.workdir.glob("*.tf")):
            raise CmlinfraError(
                f"no terraform configuration in {self.workdir}",
                "write the stack (*.tf.json) before running terraform",
            )
        self.on_progress(f"terraform init ({self.binary.flavor} {self.binary.version_text})")
        self._run("init", ["-input=false", "-no-color"], stream=False)

    def plan(self, *, destroy: bool = False) -> PlanSummary:
        """Save a plan to ``tfplan`` and summarize it."""
        args = [*self._locking(), "-json", f"-out={PLAN_FILE}"]
        _, warnings = self._run("plan", [*args, "-destroy"] if destroy else args, stream=True)
        shown, _ = self._run("show", ["-no-color", "-json", PLAN_FILE], stream=False)
        return summarize_plan(json.loads(shown), tuple(w.one_line() for w in warnings))

    def plan_text(self) -> str:
        """The saved plan as terraform prints it for people (sensitive values masked by
        terraform), for plan review comments."""
        if not (self.workdir / PLAN_FILE).is_file():
            raise CmlinfraError(f"no saved plan in {self.workdir}", "run plan first")
        shown, _ = self._run("show", ["-no-color", PLAN_FILE], stream=False)
        return shown

    def apply(self) -> None:
        """Apply the plan saved by :meth:`plan` (exactly what was summarized, nothing newer)."""
        plan = self.workdir / PLAN_FILE
        if not plan.is_file():
            raise CmlinfraError(f"no saved plan in {self.workdir}", "run plan before apply")
        try:
            self._refuse_stale_plan(plan)
            # applying a saved plan repeats its planned_change lines: already shown by plan()
            quiet = frozenset({"planned_change"})
            self._run("apply", [*self._locking(), "-json", PLAN_FILE], stream=True, quiet=quiet)
        finally:
            plan.unlink(missing_ok=True)  # a saved plan can be applied once at most

    def apply_new(self) -> Applied:
        """Plan and apply in one terraform run, for a stack whose state holds nothing yet and
        whose plan nobody reviews (``runner launch``, ``exec``): :meth:`plan` then
        :meth:`apply` are four terraform processes (plan, show, state pull, apply), each
        starting the provider again; this is one. Terraform holds the state lock from its plan
        to the end of its apply, so no saved plan can go stale in between, and with no state
        there is nothing to refresh (``-refresh=false``).

        The summary is read from the run's ``planned_change`` messages; the outputs from its
        closing ``outputs`` message when none is sensitive (terraform leaves sensitive values
        out of it), else ``outputs`` is None and :meth:`outputs` reads them."""
        seen: list[dict[str, Any]] = []

        def keep(message: dict[str, Any]) -> None:
            if message.get("type") in ("planned_change", "resource_drift", "outputs"):
                seen.append(message)

        args = [*self._locking(), "-json", "-auto-approve", "-refresh=false"]
        _, warnings = self._run("apply", args, stream=True, on_message=keep)
        summary = summarize_stream(seen, tuple(w.one_line() for w in warnings))
        return Applied(summary, stream_outputs(seen))

    def holds_nothing(self) -> bool:
        """Whether the state has no resource (``state pull``: starts no provider)."""
        pulled, _ = self._run("state", ["pull"], stream=False)
        return not (json.loads(pulled) if pulled.strip() else {}).get("resources")

    def _refuse_stale_plan(self, plan: Path) -> None:
        """Refuse a saved plan when the state changed since it was made.

        Terraform checks this itself on recent versions, but 1.0.x misses one case: a plan made
        before any state existed, applied after another run wrote one, would create every
        resource a second time beside the first run's. The plan file holds the prior state's
        lineage and serial; the current ones come from ``state pull``.
        """
        try:
            with zipfile.ZipFile(plan) as archive:
                prior = json.loads(archive.read("tfstate"))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return  # another plan file layout: leave the check to terraform
        pulled, _ = self._run("state", ["pull"], stream=False)
        current = json.loads(pulled) if pulled.strip() else {}
        if not current.get("lineage"):
            return  # still no state: nothing can have changed
        if (current["lineage"], current.get("serial")) != (
            prior.get("lineage"),
            prior.get("serial"),
        ):
            raise diagnostics.stale_plan_error()

    def destroy(self) -> None:
        """Destroy everything in the state."""
        self._run("apply", [*self._locking(), "-json", "-destroy", "-auto-approve"], stream=True)

    def outputs(self) -> dict[str, Any]:
        """Output values by name; sensitive string outputs come back as :class:`Secret`."""
        shown, _ = self._run("output", ["-no-color", "-json"], stream=False)
        result: dict[str, Any] = {}
        for name, output in (json.loads(shown or "{}") or {}).items():
            value = output.get("value")
            result[name] = (
                Secret(value) if output.get("sensitive") and isinstance(value, str) else value
            )
        return result

    def show_state(self) -> dict[str, Any]:
        """``terraform show -json`` of the current state (``values`` is absent when empty)."""
        shown, _ = self._run("show", ["-no-color", "-json"], stream=False)
        return dict(json.loads(shown or "{}"))
