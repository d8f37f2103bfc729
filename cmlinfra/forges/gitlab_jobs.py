"""GitLab CI jobs lost with a runner: found in the project's failed and canceled jobs, retried.

A runner whose machine is reclaimed leaves its job failed (``runner_system_failure``, or stuck
until the timeout) or canceled. ``gc`` asks here for those that ran on the runner and retries
each (``POST /jobs/:id/retry``). A job is retried once: one with a same-named sibling in its
pipeline (``include_retried``) has been retried already, or is itself a retry.
"""

from __future__ import annotations

from typing import Any

from cmlinfra.forges import paths
from cmlinfra.forges.base import LostJob
from cmlinfra.forges.github_jobs import QUEUE_LIMIT, epoch
from cmlinfra.forges.http import ForgeHTTP

LOST = ("failed", "canceled")
RUNNING = "running"  # the forge has not noticed yet that its runner is gone


def _ours(job: dict[str, Any], name: str, runner_id: str, since: float) -> bool:
    runner = job.get("runner") or {}
    if runner_id:
        if str(runner.get("id")) != runner_id:
            return False
    elif runner.get("description") != name:
        return False
    started = epoch(job.get("started_at"))
    return started is not None and started >= since


def _retried(http: ForgeHTTP, project: str, pipeline: str, job: dict[str, Any]) -> str:
    """Why ``job`` is not retried again ("" when it may be)."""
    siblings = http.paginate(
        f"{project}/pipelines/{pipeline}/jobs", {"include_retried": "true", "per_page": 100}
    )
    twins = [j for j in siblings if j.get("name") == job.get("name") and j.get("id") != job["id"]]
    return "already retried, or itself a retry" if twins else ""


def lost_jobs(
    http: ForgeHTTP,
    project: str,
    name: str,
    runner_id: str,
    since: float,
    launched_by: dict[str, str],
) -> list[LostJob]:
    """Failed or canceled jobs of the runner started at or after ``since``, and its running
    ones (``pending``: GitLab fails them only once it notices the runner is gone). The listing is
    newest first; it stops at the first job created a queue limit before ``since``."""
    # ``scope[]`` as GitLab documents it: Rails reads a repeated ``scope=`` as its last value
    query = {"scope[]": [*LOST, RUNNING], "per_page": 100}
    found: list[LostJob] = []
    for job in http.paginate(f"{project}/jobs", query):
        created = epoch(job.get("created_at"))
        if created is not None and created < since - QUEUE_LIMIT:
            break
        running = job.get("status") == RUNNING
        if not (running or job.get("status") in LOST) or not _ours(job, name, runner_id, since):
            continue
        job_id = paths.number(job.get("id"), "job id")
        pipeline = paths.number(str((job.get("pipeline") or {}).get("id")), "pipeline id")
        found.append(
            LostJob(
                id=job_id,
                run_id=pipeline,
                name=str(job.get("name") or ""),
                url=str(job.get("web_url") or ""),
                conclusion=str(job["status"]),
                retried=_retried(http, project, pipeline, job),
                # CI_JOB_ID of the launch, in the same pipeline: retried first, it launches a
                # runner for the retried job (a retry does not bring the jobs it needs)
                via=launched_by.get("job", "") if launched_by.get("run") == pipeline else "",
                pending="it is still running at the forge" if running else "",
            )
        )
    return found


def retry_job(http: ForgeHTTP, project: str, job: LostJob) -> None:
    job_id = paths.number(job.id, "job id")
    http.request("POST", f"{project}/jobs/{job_id}/retry")
