"""``runner launch --checkpoint-dir``: the refusals (nothing created), the presigned URLs (a
secret: masked, never on a command line), the machine's watcher uploading through them to a
real S3 server (moto), and ``checkpoint restore`` on the job's side (a hostile archive
refused). gc's copy for the re-run is in test_checkpoints_gc.py."""

from __future__ import annotations

import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cmlinfra.clouds.base import MachineRequest
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.runner import checkpoint_urls, checkpoints
from cmlinfra.runner.checkpoint_restore import restore
from cmlinfra.runner.launch import LaunchOptions
from cmlinfra.runner.store import S3Store, open_store
from cmlinfra.secrets import redact
from tests.archives import tgz
from tests.fixtures.cli import CliRunner
from tests.runner.metadata_server import serve

BUCKET = "ckpt-runners"


@pytest.fixture
def s3(moto) -> tuple[S3Store, str]:  # type: ignore[no-untyped-def]
    moto.client("s3").create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/team?region=us-east-1&endpoint={moto.endpoint}"
    store = open_store(url)
    assert isinstance(store, S3Store)
    return store, url


def _objects(store: S3Store) -> list[str]:
    listed = store._s3.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    return sorted(item["Key"] for item in listed)


def _options(**kw: object) -> LaunchOptions:
    request = MachineRequest(name="ckpt-a", spot=True, max_ttl_seconds=3600)
    base = LaunchOptions(cloud="aws", request=request, state="s3://b/p", checkpoint_dir="ckpt")
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"checkpoint_dir": "/abs"}, "not a folder inside the working tree"),
        ({"checkpoint_dir": "a/../../b"}, "not a folder inside the working tree"),
        ({"checkpoint_dir": "-rf"}, "starts with '-'"),
        ({"state": None}, "needs the runner registry in S3"),
        ({"state": "/tmp/registry"}, "needs the runner registry in S3"),
        ({"state": "file:///tmp/registry"}, "needs the runner registry in S3, Cloud Storage"),
        ({"cloud": "lxd"}, "cloud 'lxd' announces no reclaim"),
        ({"request": MachineRequest(name="ckpt-a")}, "this machine is on-demand"),
    ],
)
def test_refusals_name_the_fix(
    change: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CMLINFRA_INTERRUPTION", raising=False)
    with pytest.raises(UsageError, match=message) as caught:
        checkpoints.check(_options(**change))
    assert "\n" not in caught.value.line()
    checkpoints.check(_options(), "github")  # the good cases pass
    checkpoints.check(_options(), "gitlab")  # its pre/post_build_script call the job hooks
    checkpoints.check(_options(), "bitbucket")  # the watcher finds the step's processes
    monkeypatch.setenv("CMLINFRA_INTERRUPTION", "aws")  # forced: the tests' LXD machines
    checkpoints.check(_options(cloud="lxd", request=MachineRequest(name="ckpt-a")))


def test_the_cli_refuses_before_creating_anything(
    cli: CliRunner, s3: tuple[S3Store, str], tmp_path: Path
) -> None:
    store, url = s3
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    local = tmp_path / "registry"
    for args, message in [
        (["--cloud", "lxd", "--state", url], "cloud 'lxd' announces no reclaim"),
        (["--cloud", "lxd", "--state", str(local)], "needs the runner registry in S3"),
        ([], "without --cloud nothing reclaims this one"),
    ]:
        result = cli(
            "runner", "launch", "--name", "ckpt-cli", "--checkpoint-dir", "ckpt", *args, env=env
        )
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2  # the problem, the fix
    assert _objects(store) == [] and not local.exists()


@pytest.mark.parametrize("kind", ["gitlab", "bitbucket"])
def test_the_cli_takes_gitlab_and_bitbucket_before_creating_anything(
    cli: CliRunner, s3: tuple[S3Store, str], forge_repo, kind: str
) -> None:  # type: ignore[no-untyped-def]
    """Past the checkpoint's checks, to the next one (nothing created either way)."""
    message = "--runner-group gpu needs a GitHub organization"
    store, url = s3
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    args = ["--cloud", "aws", "--cloud-spot", "--state", url, "--runner-group", "gpu"]
    result = cli("runner", "launch", "--name", "ckpt-cli", "--checkpoint-dir", "ckpt", *args,
                 env={**env, **forge_repo(kind).env()})  # fmt: skip
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the problem, the fix
    assert "--checkpoint-dir" not in result.stderr
    assert _objects(store) == []


def test_presigned_urls_are_secrets_and_upload_to_the_registry(s3: tuple[S3Store, str]) -> None:
    store, _ = s3
    archive, about = checkpoint_urls.presign(store, "ckpt-a", 30 * 24 * 3600)
    for url in (archive, about):
        assert redact(f"PUT {url} failed") == "PUT *** failed"
        assert redact(urlsplit(url).query) == "***"
    query = parse_qs(urlsplit(archive).query)
    assert query["X-Amz-Expires"] == [str(7 * 24 * 3600)]  # capped at SigV4's longest
    short, _ = checkpoint_urls.presign(store, "ckpt-a", 3600)
    assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["3600"]
    assert "/team/ckpt-a/checkpoint.tgz?" in archive and "/team/ckpt-a/checkpoint.env?" in about
    kind = {"Content-Type": "application/octet-stream"}
    urllib.request.urlopen(urllib.request.Request(archive, b"tgz", kind, method="PUT"))
    assert store.get_blob("ckpt-a", "checkpoint.tgz") == b"tgz"


@pytest.fixture
def metadata() -> Iterator[str]:
    server = serve(0, "aws", notice=True)  # announcing from the start
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/train",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_JOB": "train",
}


def test_restore_brings_the_checkpoint_back_or_says_there_is_none(
    s3: tuple[S3Store, str], tmp_path: Path
) -> None:
    store, url = s3
    target = tmp_path / "ws/ckpt"
    line = restore(url, target, GITHUB)
    assert line == f"no checkpoint for job train of run 4242: {target} starts empty"
    key = checkpoints.job_key(store, "github", "acme/train", "4242", "train")
    assert key == "team/checkpoints/github/acme/train/4242/train.tgz"
    store._s3.put_object(Bucket=BUCKET, Key=key, Body=tgz({"./step": b"3\n", "./d/x": b"x"}))
    line = restore(url, target, GITHUB)
    assert line.startswith("restored the checkpoint of job train of run 4242 (2 files")
    assert (target / "step").read_text() == "3\n" and (target / "d/x").read_text() == "x"


def test_restore_keeps_an_archive_it_may_not_delete_but_a_bug_surfaces(
    s3: tuple[S3Store, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry refusing the clean-up delete (read-only credentials) still restores, and
    says the archive stays; a bug in the store (a TypeError) is no such refusal and is raised,
    whether it is in the delete or in the look for a matrix's marker before the read."""
    from botocore.exceptions import ClientError

    from cmlinfra.runner import checkpoint_urls

    store, url = s3
    key = checkpoints.job_key(store, "github", "acme/train", "4242", "train")
    denied = {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}

    class ReadOnly(S3Store):
        def delete_key(self, key: str) -> None:
            raise ClientError(denied, "DeleteObject")

    class BuggyDelete(S3Store):
        def delete_key(self, key: str) -> None:
            raise TypeError("a bug in the delete")

    class BuggyMarker(S3Store):
        def key_metadata(self, key: str) -> dict[str, str] | None:
            raise TypeError("a bug in the marker's look")

    def using(kind: type[S3Store]) -> None:
        made = kind(store.bucket, store.prefix, store.region, store.endpoint)
        monkeypatch.setattr(checkpoint_urls, "key_store", lambda _: made)

    body = tgz({"./step": b"3\n"})
    store._s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    using(ReadOnly)
    line = restore(url, tmp_path / "a", GITHUB)
    assert line.startswith("restored the checkpoint of job train of run 4242 (1 files")
    assert "the archive stays in the registry (An error occurred (AccessDenied)" in line
    assert _objects(store) == [key]
    using(BuggyDelete)
    with pytest.raises(TypeError, match="a bug in the delete"):
        restore(url, tmp_path / "b", GITHUB)
    using(BuggyMarker)
    with pytest.raises(TypeError, match="a bug in the marker's look"):
        restore(url, tmp_path / "c", GITHUB)
    assert not (tmp_path / "c").exists()


def test_restore_refuses_an_archive_that_climbs_out(
    s3: tuple[S3Store, str], tmp_path: Path
) -> None:
    store, url = s3
    key = checkpoints.job_key(store, "github", "acme/train", "4242", "train")
    evil = tgz({"./ok": b"fine", "../../evil": b"owned"})
    store._s3.put_object(Bucket=BUCKET, Key=key, Body=evil)
    target = tmp_path / "ws/ckpt"
    with pytest.raises(CmlinfraError, match="the checkpoint archive was refused"):
        restore(url, target, GITHUB)
    assert not target.exists() and not (tmp_path / "evil").exists()
    assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == []  # no staging left


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "not a GitHub Actions, GitLab CI or Bitbucket Pipelines job"),
        ({"GITHUB_ACTIONS": "true"}, "GITHUB_REPOSITORY, GITHUB_RUN_ID and GITHUB_JOB"),
        ({**GITHUB, "GITHUB_RUN_ID": "../x"}, "cannot name a checkpoint"),
    ],
)
def test_restore_outside_a_job_is_one_line(
    env: dict[str, str], message: str, s3: tuple[S3Store, str], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=message):
        restore(s3[1], tmp_path / "ckpt", env)
    assert not (tmp_path / "ckpt").exists()


def test_restore_command_line(cli: CliRunner, s3: tuple[S3Store, str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    result = cli("checkpoint", "restore", "--state", s3[1], "ckpt", env={**env, **GITHUB})
    assert result.returncode == 0 and "ckpt starts empty" in result.stdout, result.stderr
    result = cli("checkpoint", "restore", "--state", str(tmp_path), "ckpt", env={**env, **GITHUB})
    assert result.returncode != 0 and "kept in an s3:// runner registry" in result.stderr
    assert "GITHUB_RUN_ID" in cli("checkpoint", "restore", "--help").stdout


def test_the_job_hooks_record_the_running_job_and_forget_it_when_it_ends(tmp_path: Path) -> None:
    from cmlinfra.runner.watchdog import render_template

    (tmp_path / "var/lib/cmlinfra").mkdir(parents=True)
    for event in ("started", "completed"):
        (tmp_path / f"{event}.sh").write_text(render_template("hook.sh.j2", event=event))
    env = {**os.environ, "CMLINFRA_ROOT": str(tmp_path), "GITHUB_RUN_ID": "5",
           "GITHUB_JOB": "train", "GITHUB_WORKSPACE": "/w/repo"}  # fmt: skip
    job = tmp_path / "var/lib/cmlinfra/job.env"
    subprocess.run(["bash", str(tmp_path / "started.sh")], env=env, check=True)
    assert job.read_text() == "run_id=5\njob=train\nworkspace=/w/repo\n"
    subprocess.run(["bash", str(tmp_path / "completed.sh")], env=env, check=True)
    assert job.read_text() == ""  # a reclaim while idle saves nothing
