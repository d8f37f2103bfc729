"""The fake forges' CI jobs: GitHub workflow runs with their jobs and a job's re-run, GitLab
project and pipeline job listings and a job's retry. Tests plant jobs in ``Repo.jobs`` (the
runner each ran on, how it ended); a re-run adds the new attempt the way the forge does, so a
second look sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.forge_server.messages import NotFound, Reply, Req
from tests.forge_server.state import Repo, StoredJob

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

WEB = {"github": "https://github.test"}


def _latest(jobs: list[StoredJob]) -> list[StoredJob]:
    """Each job's newest attempt (GitHub ``filter=latest``; GitLab without retried jobs)."""
    newest: dict[tuple[int, str], StoredJob] = {}
    for job in sorted(jobs, key=lambda j: j.id):
        newest[(job.run, job.name)] = job
    return sorted(newest.values(), key=lambda j: j.id)


def _job(repo: Repo, job_id: str) -> StoredJob:
    found = next((j for j in repo.jobs if str(j.id) == job_id), None)
    if found is None:
        raise NotFound("Not Found")
    return found


def _again(server: ForgeServer, repo: Repo, job: StoredJob, status: str) -> StoredJob:
    attempt = max(j.attempt for j in repo.jobs if j.run == job.run) + 1
    new = StoredJob(server.state.next_id(), job.run, job.name, None, None, status)
    new.attempt, new.created_at, new.started_at = attempt, job.created_at, job.created_at
    repo.jobs.append(new)
    repo.job_reruns.append(job.id)
    return new


# -- GitHub ------------------------------------------------------------------------------
def _github_repo(server: ForgeServer, req: Req) -> Repo:
    from tests.forge_server.github import _repo

    return _repo(server, req)


def _github_job(repo: Repo, j: StoredJob) -> dict[str, Any]:
    return {
        "id": j.id,
        "run_id": j.run,
        "run_attempt": j.attempt,
        "name": j.name,
        "status": j.status,
        "conclusion": j.conclusion,
        "runner_id": j.runner_id,
        "runner_name": j.runner_name,
        "runner_group_id": 1 if j.runner_id else None,
        "runner_group_name": "Default" if j.runner_id else None,
        "created_at": j.created_at,
        "started_at": j.started_at,
        "completed_at": j.started_at if j.status == "completed" else None,
        "html_url": f"{WEB['github']}/{repo.name}/actions/runs/{j.run}/job/{j.id}",
        "labels": ["self-hosted"],
    }


def list_runs(server: ForgeServer, req: Req) -> Reply:
    """Runs, newest first, made from the planted jobs."""
    repo = _github_repo(server, req)
    runs = []
    for run in sorted({j.run for j in repo.jobs}, reverse=True):
        jobs = [j for j in repo.jobs if j.run == run]
        done = all(j.status == "completed" for j in jobs)
        runs.append(
            {
                "id": run,
                "run_attempt": max(j.attempt for j in jobs),
                "status": "completed" if done else "in_progress",
                "conclusion": None,
                "created_at": min(j.created_at for j in jobs),
                "updated_at": max(j.started_at for j in jobs),
                "html_url": f"{WEB['github']}/{repo.name}/actions/runs/{run}",
                "pull_requests": [],
                "head_commit": None,
            }
        )
    return Reply(200, {"total_count": len(runs), "workflow_runs": runs})


def list_run_jobs(server: ForgeServer, req: Req) -> Reply:
    repo = _github_repo(server, req)
    jobs = [j for j in repo.jobs if str(j.run) == req.params["run_id"]]
    if req.query.get("filter", "latest") == "latest":
        jobs = _latest(jobs)
    return Reply(200, {"total_count": len(jobs), "jobs": [_github_job(repo, j) for j in jobs]})


def rerun_github_job(server: ForgeServer, req: Req) -> Reply:
    repo = _github_repo(server, req)
    _again(server, repo, _job(repo, req.params["job_id"]), "queued")
    return Reply(201, {})


# -- GitLab ------------------------------------------------------------------------------
def _gitlab_repo(server: ForgeServer, req: Req) -> Repo:
    from tests.forge_server.gitlab import _repo

    return _repo(server, req)


def _gitlab_job(server: ForgeServer, repo: Repo, j: StoredJob) -> dict[str, Any]:
    job: dict[str, Any] = {
        "id": j.id,
        "name": j.name,
        "status": j.status,
        "created_at": j.created_at,
        "web_url": f"{server.gitlab_web}/{repo.name}/-/jobs/{j.id}",
        "pipeline": {"id": j.run, "project_id": repo.id, "status": "failed"},
    }
    if j.runner_id is not None:
        job["runner"] = {"id": j.runner_id, "description": j.runner_name}
        job["started_at"] = j.started_at
    return job


def list_project_jobs(server: ForgeServer, req: Req) -> Reply:
    """Newest first, retried jobs included (as GitLab's project listing does), filtered by
    ``scope[]`` as GitLab reads it."""
    from tests.forge_server.gitlab import _page

    repo = _gitlab_repo(server, req)
    scopes = req.request.args.getlist("scope[]")
    jobs = [j for j in sorted(repo.jobs, key=lambda j: -j.id) if not scopes or j.status in scopes]
    return _page(req, [_gitlab_job(server, repo, j) for j in jobs])


def list_pipeline_jobs(server: ForgeServer, req: Req) -> Reply:
    from tests.forge_server.gitlab import _page

    repo = _gitlab_repo(server, req)
    jobs = [j for j in repo.jobs if str(j.run) == req.params["pipeline_id"]]
    if req.query.get("include_retried") != "true":
        jobs = _latest(jobs)
    return _page(req, [_gitlab_job(server, repo, j) for j in jobs])


def retry_gitlab_job(server: ForgeServer, req: Req) -> Reply:
    repo = _gitlab_repo(server, req)
    new = _again(server, repo, _job(repo, req.params["job_id"]), "pending")
    return Reply(201, _gitlab_job(server, repo, new))
