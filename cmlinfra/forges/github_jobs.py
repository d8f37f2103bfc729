"""GitHub Actions jobs lost with a runner: found through the run listing, re-run one by one.

A spot runner reclaimed mid-job leaves its job failed ("lost communication with the server")
or cancelled. ``gc`` asks here for the jobs that ran on that runner and re-runs each with
``POST /actions/jobs/{job_id}/rerun``, which re-runs that job (and those that need it) and no
other: ``rerun-failed-jobs`` would also re-run jobs that failed for their own reasons on other
runners. Every id that comes back from the API is checked before it goes into a URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cmlinfra.forges import paths
from cmlinfra.forges.base import LostJob
from cmlinfra.forges.http import ForgeHTTP

LOST = ("failure", "cancelled")
RUNNING = ("in_progress", "queued", "waiting", "requested", "pending")
# A job waits at most a day in the queue (GitHub cancels it then): a run created earlier than
# that before the runner existed cannot have handed it a job.
QUEUE_LIMIT = 24 * 3600


def epoch(stamp: object) -> float | None:
    """An ISO 8601 time from the API (``2026-01-01T00:00:00Z``) as epoch seconds."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _ours(job: dict[str, Any], name: str, runner_id: str, since: float) -> bool:
    if job.get("runner_name") != name:
        return False
    if runner_id and job.get("runner_id") not in (None, 0) and str(job["runner_id"]) != runner_id:
        return False  # a later runner that reused the name
    started = epoch(job.get("started_at"))
    return started is not None and started >= since


def lost_jobs(
    http: ForgeHTTP, repo: str, name: str, runner_id: str, since: float, launched_by: dict[str, str]
) -> list[LostJob]:
    """Failed or cancelled jobs of runner ``name`` started at or after ``since`` (and its
    jobs still running: the forge notices a lost runner minutes later), from the repository's
    runs updated since then (``filter=latest``: a job already re-run
    shows as its newer attempt, which ran elsewhere or not yet)."""
    found: list[LostJob] = []
    runs = http.paginate(f"{repo}/actions/runs", {"per_page": 100}, key="workflow_runs")
    for run in runs:  # newest first
        created = epoch(run.get("created_at"))
        if created is not None and created < since - QUEUE_LIMIT:
            break
        updated = epoch(run.get("updated_at"))
        if updated is not None and updated < since:
            continue  # nothing happened in it since the runner existed
        run_id = paths.number(run.get("id"), "workflow run id")
        jobs = list(
            http.paginate(
                f"{repo}/actions/runs/{run_id}/jobs",
                {"filter": "latest", "per_page": 100},
                key="jobs",
            )
        )
        via = _launch_job(jobs, run_id, launched_by)
        for job in jobs:
            running = job.get("status") in RUNNING
            if not running and job.get("conclusion") not in LOST:
                continue
            if not _ours(job, name, runner_id, since):
                continue
            attempt = int(job.get("run_attempt") or 1)
            pending = "it is still running at the forge" if running else ""
            if not pending and run.get("status") != "completed":
                pending = "its run has not finished (GitHub re-runs jobs of finished runs)"
            found.append(
                LostJob(
                    id=paths.number(job.get("id"), "job id"),
                    run_id=run_id,
                    name=str(job.get("name") or ""),
                    url=str(job.get("html_url") or ""),
                    conclusion=str(job.get("conclusion") or job.get("status")),
                    retried=f"already a re-run (attempt {attempt})" if attempt > 1 else "",
                    via=via,
                    pending=pending,
                )
            )
    return found


def _launch_job(jobs: list[dict[str, Any]], run_id: str, launched_by: dict[str, str]) -> str:
    """The id of the job of this run that launched the runner: it ran on the (GitHub-hosted)
    runner ``RUNNER_NAME`` named when it launched. Re-running it re-runs the jobs that need
    it, the lost one with them, on the runner it launches again."""
    if launched_by.get("run") != run_id or not launched_by.get("runner"):
        return ""
    found = [j for j in jobs if j.get("runner_name") == launched_by["runner"]]
    named = [j for j in found if j.get("name") == launched_by.get("name")] or found
    return paths.number(str(named[0].get("id")), "job id") if len(named) == 1 else ""


def rerun_job(http: ForgeHTTP, repo: str, job: LostJob) -> None:
    job_id = paths.number(job.id, "job id")
    http.request("POST", f"{repo}/actions/jobs/{job_id}/rerun")
