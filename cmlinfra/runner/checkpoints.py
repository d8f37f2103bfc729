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
(checkpoint_restore.py). Every registry does this through :class:`KeyStore`.
docs/reclaim.md, "Runner mode".
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from cmlinfra.errors import UsageError

log = logging.getLogger("cmlinfra.runner.gc")

ARCHIVE = "checkpoint.tgz"
ABOUT = "checkpoint.env"  # run_id=, job=, at= lines the watcher writes next to the archive
URL_FILE = "/usr/local/lib/cmlinfra/checkpoint.url"  # root 0600: two PUT URLs, then headers
MAX_EXPIRY = 7 * 24 * 3600  # the longest a SigV4 or GCS V4 URL (or a delegation SAS) lives
REGISTRIES = ("s3", "gs", "azurerm")  # the registries a machine can upload to
SIGNATURES = ("X-Amz-Signature", "X-Goog-Signature", "sig")  # S3's, GCS's, a SAS's
KEEP = 7 * 24 * 3600  # gc deletes kept checkpoints older than this
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")  # a run id, job name, repo part


@runtime_checkable
class KeyStore(Protocol):
    """What checkpoints need of a runner registry, at any key under its prefix: S3Store
    (s3_keys.py), GcsStore, BlobStore. A local registry has none: no machine reaches it."""

    prefix: str

    def presign_put(self, key: str, seconds: int) -> str:
        """A URL that lets whoever holds it PUT ``key`` for ``seconds``; a UsageError naming
        the fix when these credentials cannot sign one."""
        ...

    def put_headers(self) -> tuple[str, ...]:
        """``Name: value`` headers that such a PUT must carry."""
        ...

    def read_key(self, key: str) -> bytes | None: ...
    def write_key(
        self, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> None: ...
    def delete_key(self, key: str) -> None:
        """Idempotent: nothing there is fine."""
        ...

    def copy_key(self, source: str, key: str, metadata: Mapping[str, str]) -> None:
        """``key``'s metadata replaced by ``metadata`` (server-side, but Azure's)."""
        ...

    def key_metadata(self, key: str) -> dict[str, str] | None:
        """None when there is no object at ``key``."""
        ...

    def list_keys(self, prefix: str) -> list[tuple[str, float]]:
        """(key, last modified as a Unix time) under ``prefix``."""
        ...


def key_store(store: Any) -> KeyStore | None:
    return store if isinstance(store, KeyStore) else None


def _runner_key(store: KeyStore, name: str, leaf: str) -> str:
    return "/".join(p for p in (store.prefix, name, leaf) if p)


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
    ``forge`` (once known): one whose agent runs the job hooks that tell the watcher which job
    runs and where its workspace is (GitHub Actions; GitLab's and Bitbucket's run none)."""
    if not opts.checkpoint_dir:
        return
    if forge and forge != "github":
        raise UsageError(
            f"--checkpoint-dir needs the runner agent's job hooks, and the {forge} runner has "
            "none that say which job runs where (GitHub Actions' has)",
            "drop --checkpoint-dir on this forge (docs/reclaim.md)",
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


def check_store(store: Any) -> None:
    """Before anything is created: these credentials can presign for this registry (a GCS
    token of no service account, an Azure principal without a delegation key cannot)."""
    keys = key_store(store)
    if keys is None:  # check() refused this registry before it was opened
        raise UsageError("--checkpoint-dir needs an s3://, gs:// or azurerm:// registry",
                         "add --state s3://…")  # fmt: skip
    _secret(keys.presign_put(_runner_key(keys, ".signing-check", ARCHIVE), 60))


def _secret(url: str) -> str:
    from cmlinfra.secrets import REGISTRY

    REGISTRY.add(url)
    query = urlsplit(url).query
    REGISTRY.add(query)
    for name, value in (part.partition("=")[::2] for part in query.split("&")):
        if name in SIGNATURES:  # the signature, wherever the URL is cut (and decoded)
            REGISTRY.add(value)
            REGISTRY.add(unquote(value))
    return url


def presign(store: Any, name: str, ttl: int) -> tuple[str, str]:
    """PUT URLs for ``NAME/checkpoint.tgz`` and ``NAME/checkpoint.env``, valid for the
    runner's life (its max TTL; else, and at most, 7 days). Bearer credentials: registered as
    secrets, so that a log line holding one is masked."""
    keys = key_store(store)
    if keys is None:
        raise UsageError("--checkpoint-dir needs an s3://, gs:// or azurerm:// registry",
                         "add --state s3://…")  # fmt: skip
    expiry = min(ttl, MAX_EXPIRY) if ttl > 0 else MAX_EXPIRY
    archive, about = (
        _secret(keys.presign_put(_runner_key(keys, name, leaf), expiry))
        for leaf in (ARCHIVE, ABOUT)
    )
    return archive, about


def url_file(store: Any, name: str, ttl: int) -> str:
    """The watcher's URL file: the archive's URL, the description's, then the headers every
    PUT carries (Azure's blob type), one a line."""
    urls = presign(store, name, ttl)
    headers = key_store(store).put_headers()  # type: ignore[union-attr]  # presign checked
    return "".join(f"{line}\n" for line in (*urls, *headers))


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
    the repository's path, the run (GitHub) or pipeline (GitLab) id and the job's name. None
    when a part is not a plain name (nothing from a machine or an API goes into a key unchecked)."""
    slug = urlsplit(repo).path.strip("/").removesuffix(".git") if "://" in repo else repo
    parts = [forge, *slug.split("/"), run, job]
    if not slug or not all(_WORD.match(part) and ".." not in part for part in parts):
        return None
    return "/".join(p for p in (store.prefix, "checkpoints", *parts[:-1], f"{job}.tgz") if p)


def env_job(forge: str, env: Mapping[str, str]) -> tuple[str, str, str] | None:
    """(repository, run, job) of the CI job running this process, or None outside CI."""
    if forge == "github":
        names = ("GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_JOB")
    else:
        names = ("CI_PROJECT_PATH", "CI_PIPELINE_ID", "CI_JOB_NAME")
    values = tuple(env.get(name, "").strip() for name in names)
    return (values[0], values[1], values[2]) if all(values) else None


def keep_for_rerun(store: Any, record: Any, runs: list[str]) -> tuple[str, str]:
    """Before gc re-runs the jobs ``record``'s runner lost: move the watcher's checkpoint (if
    any, and if of one of ``runs``) to the key the re-run attempt restores from. Returns
    (run, key), ("", "") when there is none; never raises (the re-run matters more).

    The key names the job as its YAML does (``GITHUB_JOB``), the same for every leg of a
    matrix, and no leg knows its matrix values from its environment. GitHub re-runs a job only
    in a finished run, so legs lost together are re-run one after another, and each re-run's
    restore deletes the archive it took. A key still holding another runner's archive when a
    second one comes means that restore never happened, and neither can be told apart: both are
    dropped, and an ``.ambiguous`` marker makes ``checkpoint restore`` start the leg empty
    rather than resume it from another leg's checkpoint."""
    from cmlinfra.runner.reclaim import parse

    keys = key_store(store)
    if keys is None:
        return "", ""
    try:
        text = keys.read_key(_runner_key(keys, record.name, ABOUT))
        about = parse(text.decode(errors="replace")) if text else {}
        run, job = about.get("run_id", ""), about.get("job", "")
        if not about or run not in runs:
            return "", ""
        key = job_key(keys, record.forge, record.repo, run, job)
        if key is None:
            log.warning("gc: checkpoint of %s not kept: run %r / job %r", record.name, run, job)
            return "", ""
        other = _holder(keys, key)
        clash = other is not None and other != record.name
        ambiguous = clash or _holder(keys, ambiguous_key(key)) is not None
        if clash:
            _mark_ambiguous(keys, key, [str(other), record.name])
            log.warning(
                "gc: runners %s and %s both lost job %s of run %s (legs of a matrix): neither "
                "checkpoint is kept, every leg re-runs from the start",
                other, record.name, job, run,
            )  # fmt: skip
        elif not ambiguous:
            keys.copy_key(_runner_key(keys, record.name, ARCHIVE), key, {"runner": record.name})
        for leaf in (ARCHIVE, ABOUT):  # moved or dropped (the teardown would delete them anyway)
            keys.delete_key(_runner_key(keys, record.name, leaf))
        if ambiguous:
            return "", ""
    except Exception as exc:  # no archive (upload failed), a bucket error: re-run anyway
        log.warning("gc: checkpoint of %s not kept: %s", record.name, exc)
        return "", ""
    log.info("gc: kept the checkpoint of %s for run %s at %s", record.name, run, key)
    return run, key


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
