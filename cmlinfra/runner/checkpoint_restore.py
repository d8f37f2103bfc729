"""``cmlinfra checkpoint restore``: the job's side of ``runner launch --checkpoint-dir``.

A job re-run after its spot runner was reclaimed (``gc``, rerun.py) starts on a fresh machine
with an empty workspace. Its checkpoint waits in the runner registry at a key that its own CI
environment names (checkpoints.job_key: forge, repository, run or pipeline id, job name), so
the job restores it with one step before training, and resumes instead of starting over. The
archive came from a machine: it is extracted with tarfile's ``data`` filter into a fresh folder
first, and only moved into place when every member passed. A restored archive is deleted:
the key then waits for the checkpoint of another leg of the same matrix job, if one is lost.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError, UsageError

_RUN_VARS = {
    "github": "GITHUB_REPOSITORY, GITHUB_RUN_ID and GITHUB_JOB",
    "gitlab": "CI_PROJECT_PATH, CI_PIPELINE_ID and CI_JOB_NAME",
}


def ci_forge(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    from cmlinfra.runner.checkpoint_bitbucket import in_pipelines

    if in_pipelines(env):
        return "bitbucket"
    raise UsageError(
        "checkpoint restore finds the checkpoint by the CI job it runs in, and this is not a "
        "GitHub Actions, GitLab CI or Bitbucket Pipelines job",
        "run it as a step of the job that was launched with 'runner launch --checkpoint-dir'",
    )


def restore(state: str, target: Path, env: Mapping[str, str] | None = None) -> str:
    """Download this job's checkpoint (if gc kept one for it) into ``target``; one line."""
    from urllib.parse import urlsplit

    from cmlinfra.runner.checkpoint_urls import key_store
    from cmlinfra.runner.checkpoints import REGISTRIES, ambiguous_key
    from cmlinfra.runner.store import open_store

    env = os.environ if env is None else env
    forge = ci_forge(env)
    if urlsplit(state.strip()).scheme not in REGISTRIES:
        raise UsageError(
            f"--state {state!r}: checkpoints are kept in an s3:// runner registry (or a gs:// "
            "or azurerm:// one)",
            "give the --state the runner was launched with",
        )
    store = key_store(open_store(state))
    assert store is not None  # every registry of REGISTRIES has the key operations
    if forge == "bitbucket":  # a re-run is a new pipeline: the API says which step it re-runs
        from cmlinfra.runner.checkpoint_bitbucket import step_key

        found = step_key(store, env)
        if found.key is None:
            return f"no checkpoint for {found.what}: {found.why}; {target} starts empty"
        key, what = found.key, found.what
    else:
        key, what = _job_key(store, forge, env)
    try:
        marked = store.key_metadata(ambiguous_key(key)) is not None
    except store.failures():  # unreadable: the checkpoint's own read says what is wrong
        marked = False
    if marked:
        return (
            f"several legs of {what} lost their runners, and which checkpoint "
            f"is this leg's cannot be told (a matrix): {target} starts empty"
        )
    body = store.read_key(key)
    if body is None:
        return f"no checkpoint for {what}: {target} starts empty"
    count = _extract(bytes(body), target)
    kept = ""
    try:  # restored once: the key is free for another leg's checkpoint (checkpoints.py)
        store.delete_key(key)
    except store.failures() as exc:  # read-only credentials: restored all the same
        kept = f"; the archive stays in the registry ({' '.join(str(exc).split())[:120]})"
    return (
        f"restored the checkpoint of {what} ({count} files, {len(body)} bytes) into {target}{kept}"
    )


def _job_key(store: Any, forge: str, env: Mapping[str, str]) -> tuple[str, str]:
    """GitHub's and GitLab's key, from the job's own variables (a re-run keeps them)."""
    from cmlinfra.runner.checkpoints import env_job, job_key

    found = env_job(forge, env)
    if found is None:
        raise UsageError(f"{_RUN_VARS[forge]} are not all set", "run it as a step of a CI job")
    repo, run, job = found
    key = job_key(store, forge, repo, run, job)
    if key is None:
        raise UsageError(
            f"run {run!r} of {repo!r} cannot name a checkpoint",
            f"run it as a step of the CI job, whose {_RUN_VARS[forge]} say which it is",
        )
    return key, f"job {job} of run {run}"


def _extract(data: bytes, target: Path) -> int:
    """Every member checked (``data`` filter: no absolute paths, no ``..``, no links out, no
    devices) into a temporary folder beside ``target``, then moved in; nothing on refusal."""
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cmlinfra-checkpoint-", dir=target.parent))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise CmlinfraError(
                f"the checkpoint archive was refused: {exc}",
                "nothing was restored; delete the archive from the registry and run the job "
                "again from the start",
            ) from None
        target.mkdir(parents=True, exist_ok=True)
        count = sum(1 for p in staging.rglob("*") if p.is_file())
        for entry in sorted(staging.iterdir()):
            dest = target / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(entry, dest)
        return count
    finally:
        shutil.rmtree(staging, ignore_errors=True)
