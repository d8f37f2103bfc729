"""Re-running the CI jobs a reclaimed spot runner lost, once, so the pull request still gets
its report (``cmlinfra gc``, on a ``machine-gone`` finding; ``--no-rerun`` turns it off).

The reclaim watcher on the machine stops the agent and ends the machine; the job it was running
ends failed or cancelled at the forge, and nothing on the machine survives to ask for a re-run.
gc is the one that sees the record outlive its machine, so it asks the forge which jobs ran on
that runner (by its id, else its name) since the record was written and ended that way, and
re-runs each one (GitHub: that job; GitLab: a retry of it; Bitbucket, whose steps do not say
which runner ran them: the pipeline that launched the runner, started again as a new one, once
however many of its steps were lost). Only our runner's jobs are touched.

Once, in two ways: the record is marked ``rerun_done`` (with the job ids) before the first
re-run is asked for, so a teardown that fails and a second gc do not ask again; and the forge's
own history says whether a job is already a re-run (GitHub attempt > 1, a GitLab job with a
same-named sibling in its pipeline, a Bitbucket pipeline with a later or earlier one on the same
commit and ref), so a job lost twice is not re-run a second time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges.base import LostJob, Unsupported
from cmlinfra.runner.checkpoints import keep_for_rerun
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import RunnerStore

log = logging.getLogger("cmlinfra.runner.gc")

WAIT_LIMIT = 2 * 3600  # seconds gc waits for a lost job to end at the forge (GitLab's default
# job timeout is 1 h; GitHub fails a job whose runner is gone within minutes)


@dataclass
class Rerun:
    """One lost job and what gc did about it (``gc --json``'s ``reruns``)."""

    job: str
    run: str
    name: str
    url: str
    outcome: str  # rerun | skipped | failed | waiting
    why: str = ""
    checkpoint: str = ""  # the key its checkpoint waits at for it (runner/checkpoints.py)
    unit: str = "job"  # what the re-run started again: the job, or its whole pipeline

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        what = f"job {self.job} ({self.name or '?'}) of run {self.run}"
        saved = f" (its checkpoint at {self.checkpoint})" if self.checkpoint else ""
        if self.unit == "pipeline":  # Bitbucket: a step, and its pipeline's build number
            what = f"step {self.name or self.job} of pipeline {self.run}"
            if self.outcome == "rerun":
                lost = f"(lost step: {self.name or '?'}){saved}"
                return f"re-ran pipeline {self.run} {self.why} {lost}"
        if self.outcome == "rerun":
            how = f" {self.why}" if self.why else ""
            return f"re-ran {what}{how}{saved}" + (f": {self.url}" if self.url else "")
        verbs = {"skipped": "left", "waiting": "waiting for", "failed": "FAILED to re-run"}
        verb = verbs[self.outcome]
        return f"{verb} {what}: {self.why}"


def why_not_rerun(record: RunnerRecord) -> str:
    """Why ``record``'s lost jobs are not looked up ("" when they are)."""
    if record.mode != "runner" or not record.forge:
        return "not a CI runner"
    if not record.spot:
        return "not a spot machine"
    if record.no_retry:
        return "launched with --no-retry"
    if record.rerun_done:
        ids = ", ".join(record.reran) or "none"
        return f"an earlier gc looked up its lost jobs already (re-ran: {ids})"
    return ""


@dataclass
class Outcome:
    """What :func:`rerun_lost` did for one record: the jobs, a note for the finding's detail,
    and an error that makes the finding fail (after its teardown)."""

    reruns: list[Rerun]
    note: str = ""
    error: str = ""
    defer: bool = False  # a lost job is still running at the forge: tear down later

    def to_dicts(self) -> list[dict[str, str]]:
        return [r.to_dict() for r in self.reruns]


def rerun_lost(store: RunnerStore, record: RunnerRecord, forge: Callable[[], Any]) -> Outcome:
    """Look up and re-run the jobs ``record``'s runner lost. ``forge``: resolves the driver
    its runner is registered with (it may raise: another forge, another host). Never raises:
    a forge that cannot, or a forge error, is the outcome's note or error."""
    why = why_not_rerun(record)
    if why:
        quiet = why in ("not a CI runner", "not a spot machine")
        return Outcome([], "" if quiet else f"lost jobs not re-run: {why}")
    try:
        driver = forge()
        if driver is None:
            return Outcome([], "lost jobs not re-run: no connection to its forge")
        if getattr(getattr(driver, "ctx", None), "owner_level", False):
            return Outcome(
                [],
                f"lost jobs not re-run: a runner of {record.repo} serves all its repositories, "
                "so its jobs could be in any of them",
            )
        jobs: list[LostJob] = driver.lost_jobs(
            record.name, record.runner_id, record.created, dict(record.launched_by)
        )
    except Unsupported as exc:
        return Outcome([], f"lost jobs not re-run: {exc.problem}")
    except Exception as exc:  # a forge error, a bad answer: reported, the teardown goes on
        return Outcome([], error=f"looking up the jobs it lost: {_one_line(exc)}")
    jobs, waiting = _waited(store, record, jobs)
    if waiting is not None:
        return waiting
    todo = [job for job in jobs if not job.retried]
    record.rerun_done, record.reran = True, [job.id for job in todo]
    store.put(record)  # before asking: a second gc must not ask again
    reruns = [_entry(j, "skipped", j.retried) for j in jobs if j.retried]
    # the watcher's checkpoint (--checkpoint-dir) moved where the re-run attempt finds it, first
    kept_run, kept, kept_job = keep_for_rerun(store, record, todo)
    started: dict[str, str | None] = {}  # what was re-run once for several jobs → how (None:
    # it failed): a launch job, a Bitbucket pipeline
    for job in todo:
        try:
            why = _rerun(driver, job, started)
        except Exception as exc:
            reruns.append(_entry(job, "failed", _one_line(exc)))
            continue
        log.info("gc: re-ran job %s of run %s, lost with %s", job.id, job.run_id, record.name)
        saved = kept if job.run_id == kept_run and kept_job in ("", job.id) else ""
        reruns.append(_entry(job, "rerun", why, saved))
    done = sum(r.outcome == "rerun" for r in reruns)
    failed = [r.job for r in reruns if r.outcome == "failed"]
    note = f"re-ran {done} lost job{'s' * (done != 1)}" if jobs else "no lost job found"
    error = f"could not re-run job {', '.join(failed)}" if failed else ""
    return Outcome(reruns, note, error)


def _waited(
    store: RunnerStore, record: RunnerRecord, jobs: list[LostJob]
) -> tuple[list[LostJob], Outcome | None]:
    """The forge notices a vanished runner minutes after the machine is gone (GitHub: when
    it misses the heartbeats; GitLab: at the job's timeout): a job still running then is lost
    too, and tearing the record down now would forget it. So gc waits, the record kept, until
    the job has ended; up to :data:`WAIT_LIMIT`, then it gives that job up and goes on."""
    pending = [job for job in jobs if job.pending and not job.retried]
    if not pending:
        return jobs, None
    now = time.time()
    if record.rerun_waiting_since is None:
        record.rerun_waiting_since = now
        store.put(record)
    if now - record.rerun_waiting_since < WAIT_LIMIT:
        reruns = [_entry(j, "waiting", j.pending) for j in pending]
        note = (
            "a job it lost has not ended at the forge yet: a later gc re-runs it, then tears down"
        )
        return jobs, Outcome(reruns, note, defer=True)
    gave_up = f"still not ended {WAIT_LIMIT // 3600} h after gc first saw it: given up"
    return [replace(j, retried=gave_up) if j.pending else j for j in jobs], None


def _entry(job: LostJob, outcome: str, why: str, checkpoint: str = "") -> Rerun:
    return Rerun(job.id, job.run_id, job.name, job.url, outcome, why, checkpoint, job.unit)


def _once(started: dict[str, str | None], what: str, call: Callable[[], str | None]) -> str:
    """``call`` the first time ``what`` is asked for; later, what it said then (or, had it
    failed, that it did)."""
    if what not in started:
        started[what] = None
        started[what] = call() or ""
    how = started[what]
    if how is None:
        raise CmlinfraError(f"re-running {what} failed (see above)")
    return how


def _rerun(driver: Any, job: LostJob, started: dict[str, str | None]) -> str:
    """Re-run ``job``, with the job that launched its runner when that is of the same run
    (once per run); where the forge re-runs whole pipelines, its pipeline, once however many
    of its jobs were lost. Returns how, for the report."""
    if job.unit == "pipeline":
        return _once(started, f"pipeline {job.run_id}", lambda: driver.rerun_job(job))
    if not job.via:
        return str(driver.rerun_job(job) or "")
    launch = replace(job, id=job.via, via="")
    _once(started, f"launch job {job.via}", lambda: driver.rerun_job(launch))
    if driver.rerun_brings_dependents:
        return f"with launch job {job.via}, which it needs"
    driver.rerun_job(job)
    return f"after launch job {job.via}, which launches a runner for it"


def launcher_job(forge: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The CI job running ``runner launch`` (``launched_by`` in the record), so that gc can
    re-run it with a job its runner lost: that job launches a runner again."""
    env = os.environ if env is None else env
    if forge == "github" and env.get("GITHUB_ACTIONS") == "true":
        found = {"run": "GITHUB_RUN_ID", "runner": "RUNNER_NAME", "name": "GITHUB_JOB"}
    elif forge == "gitlab" and env.get("GITLAB_CI") == "true":
        found = {"run": "CI_PIPELINE_ID", "job": "CI_JOB_ID"}
    elif forge == "bitbucket" and env.get("CI") == "true" and env.get("BITBUCKET_BUILD_NUMBER"):
        # Bitbucket's steps do not say which runner ran them: gc looks in this pipeline
        found = {
            "run": "BITBUCKET_PIPELINE_UUID",
            "step": "BITBUCKET_STEP_UUID",
            "build": "BITBUCKET_BUILD_NUMBER",
        }
    else:
        return {}
    return {key: env[var] for key, var in found.items() if env.get(var)}


def _one_line(exc: Exception) -> str:
    text = exc.line() if isinstance(exc, CmlinfraError) else str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]
