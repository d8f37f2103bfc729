"""The reclaim watcher as rendered, run on this host against a real HTTP server answering as
each cloud's metadata service does (tests/runner/metadata_server.py): it hears the notice only
when one is given, stops the job (which gets SIGTERM and writes a last checkpoint), packs the
checkpoint folder and records what happened. Both ways of asking are run: curl, and python3
where a machine has no curl (the LXD test image)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from cmlinfra.clouds import cloud_info
from cmlinfra.errors import UsageError
from cmlinfra.runner import reclaim
from tests.runner.conftest import wait_until
from tests.runner.metadata_server import serve

SHAPES = {"aws": "aws", "rebalance": "aws", "gcp": "gcp", "azure": "azure"}

JOB = """\
trap 'echo last > ckpt/final; exit 143' TERM
mkdir -p ckpt && echo 3 > ckpt/counter
echo started > ready
while true; do sleep 0.1; done
"""


@pytest.fixture(scope="module", params=sorted(SHAPES))
def metadata(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(shape, base URL) of a server that announces nothing until POST /notice."""
    server = serve(0, request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield request.param, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _watcher(root: Path, shape: str, url: str) -> Path:
    interruption = cloud_info(SHAPES[shape]).capabilities.interruption
    work = root / "work"
    work.mkdir(parents=True)
    watch = reclaim.Watch(interruption, url, workdir=str(work), checkpoint_dir="ckpt")
    script = root / "reclaim"
    script.write_text(reclaim.render(watch))
    script.chmod(0o755)
    (root / "var/lib/cmlinfra").mkdir(parents=True)
    return script


@pytest.mark.parametrize("fetch", ["curl", "python3"])
def test_the_notice_stops_the_job_and_packs_its_checkpoint(
    metadata: tuple[str, str], fetch: str, tmp_path: Path
) -> None:
    shape, url = metadata
    script = _watcher(tmp_path, shape, url)
    env = {**os.environ, "CMLINFRA_ROOT": str(tmp_path)}
    if fetch == "python3":
        env["CMLINFRA_NO_CURL"] = "1"
    urllib.request.urlopen(urllib.request.Request(f"{url}/quiet", method="POST"))
    quiet = subprocess.run([script, "check"], env=env, capture_output=True, text=True)
    assert (quiet.returncode, quiet.stdout.strip()) == (1, "no notice"), quiet.stderr
    assert not (tmp_path / "var/lib/cmlinfra/reclaim").exists()

    work = tmp_path / "work"
    job = subprocess.Popen(
        [
            "bash",
            "-c",
            reclaim.wrap(f"bash -c {shlex.quote(JOB)}", str(tmp_path / "var/lib/cmlinfra/job.pid")),
        ],
        cwd=work,
        env=env,
    )
    try:
        # the trap is set before this file is written
        wait_until(lambda: (work / "ready").exists(), 10, "the job to start")
        urllib.request.urlopen(urllib.request.Request(f"{url}/notice", method="POST"))
        heard = subprocess.run([script, "check"], env=env, capture_output=True, text=True)
        assert heard.returncode == 0, heard.stderr
        assert job.wait(timeout=10) == 143  # SIGTERM, and the job's own handler ran
    finally:
        job.kill()
    mark = reclaim.parse((tmp_path / "var/lib/cmlinfra/reclaim").read_text())
    expected = {
        "aws": 'spot instance-action: {"action": "terminate"',
        "rebalance": 'rebalance recommendation: {"noticeTime"',
        "gcp": "instance/preempted: TRUE",
        "azure": "scheduled event Preempt:",
    }[shape]
    assert mark["notice"].startswith(expected), mark
    assert (mark["job_stopped"], mark["checkpoint"], mark["done"]) == ("1", "saved", "1")
    with tarfile.open(tmp_path / "var/lib/cmlinfra/checkpoint.tgz") as tar:
        assert sorted(tar.getnames()) == [".", "./counter", "./final"]
    again = subprocess.run([script, "check"], env=env, capture_output=True, text=True)
    assert (
        again.returncode == 0
        and (tmp_path / "var/lib/cmlinfra/reclaim").read_text().count("at=") == 1
    )  # acted on once


def test_clouds_without_a_notice_and_the_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    lxd = cloud_info("lxd").capabilities
    assert reclaim.interruption(lxd) is None
    monkeypatch.setenv("CMLINFRA_INTERRUPTION", "gcp")
    monkeypatch.setenv("CMLINFRA_METADATA_URL", "http://127.0.0.1:9/")
    found, url = reclaim.interruption(lxd)  # type: ignore[misc]
    assert found is cloud_info("gcp").capabilities.interruption and url == "http://127.0.0.1:9"
    monkeypatch.setenv("CMLINFRA_INTERRUPTION", "lxd")
    with pytest.raises(UsageError, match="announces no reclaim"):
        reclaim.interruption(lxd)


@pytest.mark.parametrize("bad", ["", "/abs/ckpt", "../up", "a/../../b"])
def test_checkpoint_dir_must_stay_in_the_tree(bad: str) -> None:
    with pytest.raises(UsageError, match="--checkpoint-dir"):
        reclaim.checked_dir(bad)
    assert reclaim.checked_dir("out/ckpt/") == "out/ckpt"


@pytest.mark.skipif(
    os.geteuid() != 0, reason="dropping to the job's user needs root, as on a machine"
)
def test_the_checkpoint_is_read_with_the_job_users_rights(tmp_path: Path) -> None:
    """The watcher runs as root, but the checkpoint folder is the job's to shape: packed as the
    job's user, a folder it owns is saved and a link it planted to a root-only folder is not
    (as root, the re-run would have received root's files)."""
    server = serve(0, "aws")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    shared = Path(tempfile.mkdtemp(prefix="cmlinfra-reclaim-"))  # the job's user can enter it
    try:
        shared.chmod(0o755)
        secret = tmp_path / "secret"  # tmp_path: root's only
        secret.mkdir(mode=0o700)
        (secret / "key").write_text("root's own")
        work = shared / "work"
        (work / "ok").mkdir(parents=True)
        (work / "ok/counter").write_text("3")
        (work / "ckpt").symlink_to(secret)
        urllib.request.urlopen(urllib.request.Request(f"{url}/notice", method="POST"))
        interruption = cloud_info("aws").capabilities.interruption
        for folder, expected in (("ok", "saved"), ("ckpt", "failed")):
            root = tmp_path / folder
            (root / "var/lib/cmlinfra").mkdir(parents=True)
            watch = reclaim.Watch(interruption, url, workdir=str(work), checkpoint_dir=folder)
            script = root / "reclaim"
            script.write_text(reclaim.render(watch, job_user="nobody"))
            script.chmod(0o755)
            env = {**os.environ, "CMLINFRA_ROOT": str(root)}
            heard = subprocess.run([script, "check"], env=env, capture_output=True, text=True)
            assert heard.returncode == 0, heard.stderr
            mark = reclaim.parse((root / "var/lib/cmlinfra/reclaim").read_text())
            assert mark["checkpoint"] == expected, (folder, mark, heard.stderr)
        with tarfile.open(tmp_path / "ok/var/lib/cmlinfra/checkpoint.tgz") as tar:
            assert sorted(tar.getnames()) == [".", "./counter"]
        assert not list((tmp_path / "ckpt/var/lib/cmlinfra").glob("checkpoint.tgz*"))
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(shared)


def test_only_a_runners_watcher_drops_to_the_jobs_user() -> None:
    """A runner's job is a pull request's code; exec's command is the launching user's own."""
    interruption = cloud_info("aws").capabilities.interruption
    watch = reclaim.Watch(interruption, "http://127.0.0.1:9", checkpoint_dir="ckpt")
    runner = reclaim.install_script(replace(watch, runner=True), "gh-runner", "/lib")
    assert "\nJOB_USER=gh-runner " in runner
    assert "\nJOB_USER='' " in reclaim.install_script(watch, "ubuntu", "/lib")
