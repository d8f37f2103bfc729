"""``runner launch --checkpoint-dir``: a reclaimed runner's checkpoint, kept for the job's re-run.

In runner mode nobody on this side is there when the cloud takes the machine back: the
launcher is long gone. So the machine's reclaim watcher uploads the job's checkpoint itself, to
the runner registry (``--state s3://…``, ``gs://…`` or ``azurerm://…``), without holding any
credential: at launch the launcher presigns two PUTs (``NAME/checkpoint.tgz`` and
``NAME/checkpoint.env``, which says which run and job it is: a SigV4 URL, a GCS V4 signed URL,
an Azure blob SAS) and sends the URLs, with any header the PUT needs, as a root-only secret file
over SFTP, like the agent's environment. ``gc``, when it re-runs the lost job (rerun.py), copies
the archive to a key that the re-run attempt can name from its own CI environment
(:func:`job_key`), and the job restores it with ``cmlinfra checkpoint restore``
(checkpoint_restore.py). Every registry does this through checkpoint_urls.KeyStore.
docs/reclaim.md, "Runner mode".
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cmlinfra.errors import UsageError
from cmlinfra.runner.checkpoint_urls import (
    ABOUT,
    ARCHIVE,
    KeyStore,
    key_store,
    runner_key,
    url_file,
)

log = logging.getLogger("cmlinfra.runner.gc")

URL_FILE = "/usr/local/lib/cmlinfra/checkpoint.url"  # root 0600: two PUT URLs, then headers
REGISTRIES = ("s3", "gs", "azurerm")  # the registries a machine can upload to
KEEP = 7 * 24 * 3600  # gc deletes kept checkpoints older than this
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,199}")  # a run id, job name, repo part
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # what a job name's slug replaces (runs of)
FORGES = ("github", "gitlab", "bitbucket")  # whose running job the watcher can tell


def checked_dir(value: str) -> str:
    """``--checkpoint-dir``: relative to the CI job's workspace, inside it."""
    from cmlinfra.runner import reclaim

    if value.strip().startswith("-"):
        raise UsageError(
            f"--checkpoint-dir {value!r} starts with '-'",
            "give a folder of the job's workspace, such as checkpoints/",
        )
    return reclaim.checked_dir(value)


def refuse_here() -> None:
    """``runner launch`` without ``--cloud`` (this machine is the runner): nothing reclaims it."""
    raise UsageError(
        "--checkpoint-dir is for a cloud's spot machine; without --cloud nothing reclaims this one",
        "add --cloud aws|gcp|azure --cloud-spot, or drop --checkpoint-dir",
    )


def check(opts: Any, forge: str = "") -> None:
    """Refuse ``--checkpoint-dir`` (nothing created yet) unless the watcher can upload it: an
    S3, GCS or Azure registry to presign for, and a spot machine of a cloud that announces
    reclaims (check_store: that these credentials can presign, once it is open). With
    ``forge`` (once known): one whose job the watcher can tell: GitHub Actions' job hooks,
    GitLab Runner's ``pre_build_script``/``post_build_script`` (agents.py), and on Bitbucket,
    whose runner has no hooks, the step's own processes under the runner (reclaim.sh.j2,
    find_step)."""
    if not opts.checkpoint_dir:
        return
    if forge and forge not in FORGES:
        raise UsageError(
            f"--checkpoint-dir: nothing tells a {forge} runner's machine which job runs",
            "drop --checkpoint-dir, or checkpoint to your own storage from the job",
        )
    checked_dir(opts.checkpoint_dir)
    scheme = urlsplit((opts.state or "").strip()).scheme
    if scheme not in REGISTRIES:
        raise UsageError(
            "--checkpoint-dir needs the runner registry in S3, Cloud Storage or Azure Blob "
            "Storage: the reclaimed machine uploads its checkpoint there, and the re-run job "
            "restores it from there",
            "add --state s3://BUCKET/PREFIX?region=REGION (or gs://BUCKET/PREFIX, "
            "azurerm://ACCOUNT/CONTAINER/PREFIX), or drop --checkpoint-dir",
        )
    from cmlinfra.clouds import cloud_info
    from cmlinfra.runner import reclaim

    found = reclaim.interruption(cloud_info(opts.cloud).capabilities)
    if found is None:
        raise UsageError(
            f"--checkpoint-dir: cloud {opts.cloud!r} announces no reclaim, so nothing would "
            "ever save the checkpoint",
            "use a cloud with spot machines (aws, gcp, azure) with --cloud-spot, or drop "
            "--checkpoint-dir",
        )
    forced = bool(os.environ.get("CMLINFRA_INTERRUPTION", "").strip())
    if not (opts.request.spot or forced):
        raise UsageError(
            "--checkpoint-dir saves a checkpoint when a spot machine is reclaimed, and this "
            "machine is on-demand",
            "add --cloud-spot, or drop --checkpoint-dir",
        )


def send(session: Any, ttl: int) -> str:
    """Presign and put the URLs on the machine (SFTP, root 0600); returns the file's path for
    the watcher. Never in user-data, argv, logs or Terraform state."""
    from cmlinfra.secrets import Secret

    text = url_file(session.store, session.record.name, ttl)
    with session.step("checkpoint url"):
        session.ssh.put_secret(Secret(text), URL_FILE)
    return URL_FILE


def job_key(store: Any, forge: str, repo: str, run: str, job: str) -> str | None:
    """Where a job's checkpoint waits for its re-run, from what both sides know: the forge,
    the repository as the forge names it (GitHub ``owner/name``, GitLab
    ``path_with_namespace``, Bitbucket ``workspace/slug``: gc's RunnerRecord.repo_path, the
    re-run's GITHUB_REPOSITORY, CI_PROJECT_PATH or the Bitbucket context's path; never a URL,
    whose path on a GitLab under a relative URL starts with that root), the run (GitHub),
    pipeline (GitLab) or lost pipeline's UUID (Bitbucket) and the job's name. None when the
    repository or run is not a plain name (nothing from a machine or an API goes into a key
    unchecked). Any job name has a key (:func:`job_leaf`)."""
    if forge == "bitbucket":  # its workspace and repository slugs are case-insensitive
        repo = repo.lower()
    parts = [forge, *repo.split("/"), run]
    if not repo or not job or not all(_plain(part) for part in parts):
        return None
    return "/".join(p for p in (store.prefix, "checkpoints", *parts, job_leaf(job)) if p)


def job_leaf(job: str) -> str:
    """The archive's name for job ``job``: ``NAME.tgz`` for a plain name (letters, digits,
    ``._ -``, starting with a letter or digit: GitHub's job ids, GitLab's plain names), else
    ``_SLUG-HASH.tgz``, a readable slug of the name and 12 hex digits of its SHA-256. GitLab's
    ``parallel`` legs (``train 1/3``) and ``parallel: matrix`` legs (``train: [a, 1]``) are
    each their own job name: the hash keeps them apart however alike their slugs, and the
    leading ``_`` keeps a slug from ever meeting a plain name."""
    if _plain(job):
        return f"{job}.tgz"
    slug = re.sub(r"\.{2,}", ".", _UNSAFE.sub("-", job)).strip("-.")[:60].rstrip("-.") or "job"
    digest = hashlib.sha256(job.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"_{slug}-{digest}.tgz"


def _plain(part: str) -> bool:
    return bool(_WORD.fullmatch(part)) and ".." not in part


def env_job(forge: str, env: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(repository, run, job) of the CI job running this process, or None outside CI."""
    if forge == "github":
        names = ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_JOB")
    else:
        names = ("CI_PROJECT_PATH", "CI_PIPELINE_ID", "CI_JOB_NAME")
    values = tuple(env.get(name, "").strip() for name in names)
    return (values[0], values[1], values[2]) if all(values) else None


def keep_for_rerun(store: Any, record: Any, jobs: list[Any]) -> tuple[str, str, str]:
    """Before gc re-runs the jobs ``record``'s runner lost (``jobs``, LostJob): move the
    watcher's checkpoint (if any, and if of one of their runs) to the key the re-run attempt
    restores from. Returns (run, key, job) (run as LostJob.run_id says it; job the LostJob.id
    whose checkpoint it is where the watcher named it, a Bitbucket step, else "": the run's),
    ("", "", "") when there is none; never raises (the re-run matters more).

    The key names the job by what its re-run attempt's environment says: GitLab's
    ``CI_JOB_NAME``, which differs for every leg of a ``parallel`` job, and GitHub's
    ``GITHUB_JOB``, the job as its YAML names it, the same for every leg of a matrix (and no
    leg knows its matrix values from its environment). GitHub re-runs a job only in a finished
    run, so legs lost together are re-run one after another, and each re-run's restore deletes
    the archive it took. A key still holding another runner's archive when a
    second one comes means that restore never happened, and neither can be told apart: both are
    dropped, and an ``.ambiguous`` marker makes ``checkpoint restore`` start the leg empty
    rather than resume it from another leg's checkpoint."""
    from cmlinfra.runner.reclaim import parse

    keys = key_store(store)
    if keys is None:
        return "", "", ""
    try:
        text = keys.read_key(runner_key(keys, record.name, ABOUT))
        about = parse(text.decode(errors="replace")) if text else {}
        lost = _lost_job(record.forge, jobs, about.get("run_id", ""), about.get("job", ""))
        if lost is None:
            return "", "", ""
        run, job, shown, lost_id = lost
        key = job_key(keys, record.forge, record.repo_path(), run, job)
        if key is None:
            log.warning("gc: checkpoint of %s not kept: run %r / job %r", record.name, run, job)
            return "", "", ""
        other = _holder(keys, key)
        clash = other is not None and other != record.name
        ambiguous = clash or keys.key_metadata(ambiguous_key(key)) is not None
        if clash:
            _mark_ambiguous(keys, key, [str(other), record.name])
            log.warning(
                "gc: runners %s and %s both lost job %s of run %s (legs of a matrix): neither "
                "checkpoint is kept, every leg re-runs from the start",
                other, record.name, job, run,
            )  # fmt: skip
        elif not ambiguous:
            keys.copy_key(runner_key(keys, record.name, ARCHIVE), key, {"runner": record.name})
        for leaf in (ARCHIVE, ABOUT):  # moved or dropped (the teardown would delete them anyway)
            keys.delete_key(runner_key(keys, record.name, leaf))
        if ambiguous:
            return "", "", ""
    except Exception as exc:  # no archive (upload failed), a bucket error: re-run anyway
        log.warning("gc: checkpoint of %s not kept: %s", record.name, exc)
        return "", "", ""
    log.info("gc: kept the checkpoint of %s for run %s at %s", record.name, shown, key)
    return shown, key, lost_id


def _lost_job(forge: str, jobs: list[Any], run: str, job: str) -> tuple[str, str, str, str] | None:
    """The lost job the watcher's ABOUT (``run_id=``, ``job=``) names, as (run and job as
    the key names them, the run as LostJob.run_id shows it, the LostJob.id when the ABOUT
    names that one step of the run, else ""); None when it is none of them.
    Bitbucket's watcher names the pipeline and step by UUID (the step's name is the API's, from
    lost_steps): the key names the lost pipeline by its UUID, braces off, and the step by its
    name, which the re-run pipeline's step can ask the API for (checkpoint_bitbucket.py)."""
    if forge != "bitbucket":
        return (run, job, run, "") if run and any(j.run_id == run for j in jobs) else None
    from cmlinfra.forges.bitbucket_pipelines import plain_uuid

    pipeline, step = plain_uuid(run), plain_uuid(job)
    for lost in jobs:
        if step and plain_uuid(lost.id) == step and plain_uuid(lost.run_key) == pipeline:
            return pipeline, lost.name, lost.run_id, lost.id  # one step of several lost
    return None


def ambiguous_key(key: str) -> str:
    """The marker beside a job's key once two runners' checkpoints claimed it."""
    return key.removesuffix(".tgz") + ".ambiguous"


def _holder(store: KeyStore, key: str) -> str | None:
    """The runner whose checkpoint ``key`` holds ("?" if unsaid), None when there is none."""
    found = store.key_metadata(key)
    return None if found is None else found.get("runner", "?")


def _mark_ambiguous(store: KeyStore, key: str, runners: list[str]) -> None:
    body = "".join(f"runner={name}\n" for name in runners).encode()
    store.write_key(ambiguous_key(key), body)
    store.delete_key(key)


def expired(store: Any, now: float, keep: float = KEEP) -> list[tuple[str, float]]:
    """Kept checkpoints (and markers) older than ``keep`` seconds: (key, age in days). A
    re-run restores within hours; after a week the archive only costs storage."""
    keys = key_store(store)
    if keys is None:
        return []
    root = "/".join(p for p in (keys.prefix, "checkpoints") if p) + "/"
    listed = keys.list_keys(root)
    return [(key, (now - at) / 86400) for key, at in listed if now - at > keep]


def forget(store: Any, key: str) -> None:
    keys = key_store(store)
    if keys is not None:
        keys.delete_key(key)
