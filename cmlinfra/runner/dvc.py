"""``exec --dvc``: the CML workflow on the machine — pull the data, run, push the outputs.

Read on the launcher, before anything is created (so a repository without a remote costs no
machine): which remote, what the stages need, which files to bring back, and the credentials.
On the machine, after the tree is synced: DVC (from the image, else from the launcher, see
:mod:`cmlinfra.runner.toolbox`), a root-only ``.dvc/config.local`` (credentials, ``no_scm`` since
the tree comes without ``.git``, and a machine-wide cache that a reused runner or a baked image
keeps), ``dvc pull`` of what the stages depend on, the command (default ``dvc repro``),
``dvc push``, and ``dvc.lock`` with the metrics and plots files back to the launcher.
``config.local`` is removed before the machine is given back.

Credentials: with ``--cloud-permission-set`` the machine's own identity reads and writes the
bucket, and nothing is sent. Otherwise the remote's options from the launcher's
``.dvc/config.local`` and global DVC config (and for S3, the launcher's AWS credentials) go over
SFTP into the root-only file; files those options point to (``credentialpath``, ``keyfile``) go
along as root-only files too. Never user-data, Terraform variables, argv or logs.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret

CACHE_DIR = "/var/cache/cmlinfra/dvc"
SECRETS_DIR = "/root/.config/cmlinfra/dvc"
DEFAULT_COMMAND = ["dvc", "repro"]
# the pip extra of each remote scheme (dvc[s3] brings dvc-s3): DVC names most extras after their
# scheme; http(s) needs none. One string, not quoted names: these are DVC's remote types, and
# outside cmlinfra/clouds/ a quoted azure or ssh reads as a cloud (tests/clouds/test_seam.py)
SAME_NAMED = "s3 gs azure ssh hdfs webhdfs oss gdrive webdav".split()  # noqa: SIM905
EXTRAS = {
    **{scheme: scheme for scheme in SAME_NAMED},
    "webdavs": "webdav",
    "http": "",
    "https": "",
}
_PATH_OPTIONS = ("credentialpath", "keyfile", "gdrive_service_account_json_file_path")
_S3_KEYS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True)
class DvcPlan:
    remote: str
    url: str
    scheme: str
    pull: list[str]  # what to pull: what the stages need, or (pull_all) every tracked output
    pull_all: bool
    fetch: list[str]  # paths and globs to bring back, relative to the tree
    options: dict[str, str] = field(repr=False)  # the remote's section for config.local
    files: dict[str, Secret] = field(repr=False, default_factory=dict)  # remote path -> content
    identity: bool = False  # the machine's own cloud identity holds the credentials

    @property
    def requirement(self) -> str:
        extra = EXTRAS.get(self.scheme, "")
        try:
            from importlib.metadata import version

            pin = f"=={version('dvc')}"  # the launcher's DVC: the same on both ends
        except Exception:
            pin = ""
        return f"dvc[{extra}]{pin}" if extra else f"dvc{pin}"

    def config_local(self) -> Secret:
        """The machine's ``.dvc/config.local`` (configobj's INI, as DVC writes it)."""
        from configobj import ConfigObj

        config = ConfigObj()
        config["core"] = {"no_scm": "true", "analytics": "false", "remote": self.remote}
        config["cache"] = {"dir": CACHE_DIR}
        config[f'remote "{self.remote}"'] = dict(self.options)
        return Secret("\n".join(config.write()) + "\n")

    def remote_config(self) -> Secret | None:
        """Only the remote's section (its credentials and launcher-side options), for a config
        level that DVC merges with the repository's own (``runner launch --dvc`` writes it as
        the job user's global config); None when there is nothing to add."""
        if not self.options:
            return None
        from configobj import ConfigObj

        config = ConfigObj()
        config[f'remote "{self.remote}"'] = dict(self.options)
        return Secret("\n".join(config.write()) + "\n")


def _repo(root: Path) -> Any:
    try:
        from dvc.repo import Repo
    except ImportError:
        raise CmlinfraError(
            "DVC is not installed on the launcher", "pip install 'cmlinfra[dvc]'"
        ) from None
    from dvc.exceptions import NotDvcRepoError

    if not (root / ".dvc").is_dir():
        raise CmlinfraError(
            f"{root} is not a DVC repository (no .dvc directory)",
            "run 'dvc init' there, or drop --dvc",
        )
    try:
        return Repo(str(root))
    except NotDvcRepoError as exc:
        raise CmlinfraError(
            f"cannot open the DVC repository {root}: {exc}", "check --workdir"
        ) from None


def _remote(repo: Any, root: Path, name: str) -> tuple[str, dict[str, Any]]:
    root = root.resolve()
    remotes = repo.config.get("remote", {})
    name = name or repo.config["core"].get("remote", "")
    if not name or name not in remotes:
        problem = (
            f"no DVC remote named {name!r} in {root}/.dvc/config"
            if name
            else f"no default DVC remote in {root}/.dvc/config"
        )
        raise CmlinfraError(
            problem, "add one: dvc remote add -d storage s3://BUCKET/PATH (and commit .dvc/config)"
        )
    return name, remotes[name]


def _launcher_options(repo: Any, name: str) -> dict[str, Any]:
    """The remote's options from the levels that do not travel with the tree."""
    merged: dict[str, Any] = {}
    for level in ("system", "global", "local"):
        try:
            section = repo.config.load_one(level).get("remote", {}).get(name, {})
        except Exception:
            section = {}
        merged.update(section)
    return merged


def _s3_credentials(section: dict[str, Any]) -> dict[str, str]:
    """The launcher's AWS credentials for an S3 remote (boto3's chain: env, profile, SSO)."""
    import boto3

    session = boto3.Session(profile_name=section.get("profile") or None)
    found = session.get_credentials()
    if found is None:
        return {}
    frozen = found.get_frozen_credentials()
    values = {"access_key_id": frozen.access_key, "secret_access_key": frozen.secret_key}
    if frozen.token:
        values["session_token"] = frozen.token
    return values


def _rel(repo: Any, path: str) -> str:
    return os.path.relpath(path, repo.root_dir)


def _pull_targets(repo: Any, everything: bool) -> list[str]:
    """The tracked data the stages depend on (``.dvc`` files' data, other stages' outputs), or
    with ``everything`` every output; only those with a recorded hash (``dvc.lock``, ``.dvc``):
    a stage that never ran has nothing in the remote yet, and pulling it would fail."""
    outs = [_rel(repo, o.fs_path) for o in repo.index.outs if o.use_cache and o.hash_info]
    if everything:
        return outs
    targets: list[str] = []
    for stage in repo.index.stages:
        for dep in getattr(stage, "deps", []):
            path = _rel(repo, dep.fs_path)
            for out in outs:
                if (path == out or path.startswith(out + "/")) and out not in targets:
                    targets.append(out)
    return targets


def _fetch_paths(repo: Any) -> list[str]:
    """What comes back: lock files, ``.dvc`` files, every metrics and plots file."""
    paths = ["dvc.lock", "**/dvc.lock", "*.dvc", "**/*.dvc"]
    paths += [_rel(repo, o.fs_path) for o in repo.index.outs if o.metric or o.plot]
    for dvcfile, entries in (getattr(repo.index, "_metrics", {}) or {}).items():
        base = os.path.dirname(dvcfile)
        paths += [_rel(repo, os.path.join(base, p)) for p in entries]
    for dvcfile, definitions in (getattr(repo.index, "_plots", {}) or {}).items():
        base = os.path.dirname(dvcfile)
        for definition in definitions:
            items = definition.items() if isinstance(definition, dict) else [(definition, {})]
            for key, props in items:
                files = [key]
                for axis in ("x", "y"):
                    value = (props or {}).get(axis)
                    if isinstance(value, dict):
                        files = list(value)
                paths += [_rel(repo, os.path.join(base, f)) for f in files]
    return list(dict.fromkeys(paths))


def plan(
    root: Path,
    command: list[str],
    *,
    remote: str = "",
    identity: bool = False,
    secrets_dir: str = SECRETS_DIR,
) -> DvcPlan:
    """Everything ``exec --dvc`` (and ``runner launch --dvc``) needs from the launcher's
    checkout, or a one-line error. Key files named by the remote's options go to
    ``secrets_dir`` on the machine."""
    repo = _repo(root)
    try:
        name, section = _remote(repo, root, remote)
        url = str(section.get("url", ""))
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if not scheme or scheme not in EXTRAS:
            raise CmlinfraError(
                f"DVC remote {name!r} is {url!r}, which the machine cannot reach",
                "use a cloud remote (s3://, gs://, azure://, ssh://, https://)",
            )
        options = {k: str(v) for k, v in _launcher_options(repo, name).items() if k != "url"}
        files: dict[str, Secret] = {}
        for key in _PATH_OPTIONS:
            if key in options:
                local = Path(options[key]).expanduser()
                if not local.is_absolute():
                    local = root / ".dvc" / local
                if not local.is_file():
                    raise CmlinfraError(
                        f"DVC remote {name!r}: {key} {local} does not exist", "fix the path"
                    )
                remote_path = f"{secrets_dir}/{key}"
                files[remote_path] = Secret(local.read_text())
                options[key] = remote_path
        if identity:
            for key in (*_S3_KEYS, *_PATH_OPTIONS):
                options.pop(key, None)
            files = {}
        elif scheme == "s3" and "access_key_id" not in options:
            options.update(_s3_credentials(options))
        for key in (*_S3_KEYS, "password", "account_key", "sas_token", "connection_string"):
            if key in options:
                Secret(options[key])  # redacted from every log line from now on
        repro = command[:2] == DEFAULT_COMMAND or not command
        return DvcPlan(
            remote=name,
            url=url,
            scheme=scheme,
            pull=_pull_targets(repo, everything=not repro),
            pull_all=not repro,
            fetch=_fetch_paths(repo),
            options=options,
            files=files,
            identity=identity,
        )
    finally:
        repo.close()


# -- failures on the machine, as one line with the fix ---------------------------------------

_FAILURES: list[tuple[re.Pattern[str], str, str]] = [
    (
        re.compile(
            r"could not connect|connection refused|timed out|name or service not known"
            r"|temporary failure in name resolution|connecttimeout|endpointconnectionerror",
            re.I,
        ),
        "the DVC remote {remote} ({url}) is unreachable from the machine",
        "check the remote's URL/endpointurl and that the machine's network reaches it",
    ),
    (
        re.compile(
            r"forbidden|accessdenied|access denied|invalidaccesskeyid|signaturedoesnotmatch"
            r"|invalidclienttokenid|expiredtoken|unable to locate credentials|\b403\b"
            r"|\b401\b|unauthori[sz]ed|permission denied",
            re.I,
        ),
        "the DVC remote {remote} ({url}) refused the credentials",
        "give the machine access: --cloud-permission-set with read/write on the bucket, or the "
        "remote's keys in .dvc/config.local (or the launcher's AWS credentials) for other clouds",
    ),
    (
        re.compile(r"nosuchbucket|bucket does not exist|specified bucket", re.I),
        "the DVC remote {remote} ({url}) has no such bucket",
        "create it, or fix the remote's URL in .dvc/config",
    ),
    (
        re.compile(r"missing cache files|cache is up to date|failed to pull|checkout failed", re.I),
        "data the stages need is not in the DVC remote {remote} ({url})",
        "run 'dvc push' where the data was added, then re-run",
    ),
]


def failure(plan: DvcPlan, step: str, code: int, tail: list[str]) -> CmlinfraError:
    """``dvc pull``/``dvc push`` failed on the machine: the cause DVC printed, and the fix."""
    text = "\n".join(tail)
    last = next(
        (ln for ln in reversed(tail) if ln.startswith("ERROR")),
        next((ln for ln in reversed(tail) if ln.strip()), "no output"),
    )
    for pattern, problem, fix in _FAILURES:
        if pattern.search(text):
            error = CmlinfraError(
                f"dvc {step} failed (exit {code}): "
                + problem.format(remote=repr(plan.remote), url=plan.url),
                fix,
            )
            break
    else:
        error = CmlinfraError(f"dvc {step} failed (exit {code}): {last}", "see the output above")
    error.exit_code = code or 1
    return error


def quoted(paths: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)
