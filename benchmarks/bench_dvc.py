"""DVC on the machine: what a kept cache saves on the second run, and the toolbox's cost.

``exec --dvc`` points DVC's cache at a machine-wide directory (``/var/cache/cmlinfra/dvc``), so a
machine that outlives one run — a reused runner, an image baked after a warm-up — pulls only
what changed. Measured as the machine does it: a fresh clone of the repository, ``config.local``
with the shared ``cache.dir``, ``dvc pull`` from an S3 remote (a local moto server), real DVC.
The dataset is 200 files of 64 KiB; between the runs one file changes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section

FILES, SIZE = 200, 64 * 1024
DVC = [sys.executable, "-m", "dvc"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def _pull(origin: Path, where: Path, cache: Path, env: dict[str, str]) -> tuple[float, int]:
    """A fresh clone and ``dvc pull`` with ``cache`` as its cache: (seconds, files fetched)."""
    _run(["git", "clone", "-q", str(origin), str(where)], origin.parent, env)
    _run([*DVC, "config", "--local", "cache.dir", str(cache)], where, env)
    start = time.perf_counter()
    out = _run([*DVC, "pull"], where, env)
    seconds = time.perf_counter() - start
    found = re.search(r"(\d+) files? fetched", out)
    return seconds, int(found.group(1)) if found else 0


def run() -> Section:
    from moto.server import ThreadedMotoServer

    from tests.fixtures.moto import AWS_ENV, free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log

    section = Section("DVC cache on the machine", "python benchmarks/run.py dvc")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {**os.environ, **AWS_ENV, "DVC_NO_ANALYTICS": "1"}
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@e.invalid"]
    try:
        import boto3

        boto3.client(
            "s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).create_bucket(Bucket="bench")  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            repo = work / "repo"
            repo.mkdir()
            _run(["git", "init", "-q", "-b", "main"], repo, env)
            _run([*DVC, "init", "-q"], repo, env)
            _run([*DVC, "remote", "add", "-d", "s", "s3://bench/store"], repo, env)
            _run([*DVC, "remote", "modify", "s", "endpointurl", env["AWS_ENDPOINT_URL"]], repo, env)
            data = repo / "data"
            data.mkdir()
            for i in range(FILES):
                (data / f"f{i:03d}.bin").write_bytes(os.urandom(SIZE))
            _run([*DVC, "add", "-q", "data"], repo, env)
            _run([*DVC, "push", "-q"], repo, env)
            _run([*git, "add", "-A"], repo, env)
            _run([*git, "commit", "-q", "-m", "v1"], repo, env)
            shared = work / "machine-cache"
            first, fetched1 = _pull(repo, work / "run1", shared, env)
            (data / "f000.bin").write_bytes(os.urandom(SIZE))  # the next PR changes one file
            _run([*DVC, "add", "-q", "data"], repo, env)
            _run([*DVC, "push", "-q"], repo, env)
            _run([*git, "commit", "-q", "-am", "v2"], repo, env)
            kept, fetched2 = _pull(repo, work / "run2", shared, env)
            cold, fetched3 = _pull(repo, work / "run3", work / "empty-cache", env)
            shutil.rmtree(work / "run1")
    finally:
        server.stop()
    mib = FILES * SIZE / 2**20
    section.rows += [
        Row(f"first run: dvc pull, {FILES} files ({mib:.1f} MiB)", first, "s", "",
            f"{fetched1} files fetched"),
        Row("second run, one file changed, cache kept (reused runner / baked)", kept, "s",
            "only what changed", f"{fetched2} files fetched"),
        Row("second run, one file changed, empty cache (a fresh machine)", cold, "s", "",
            f"{fetched3} files fetched"),
        Row("kept / empty cache", kept / cold if cold else 0.0, "ratio", "< 1"),
    ]  # fmt: skip
    from cmlinfra.runner.toolbox import cache_dir

    for name in ("dvc", "tensorboard"):
        built = sorted((cache_dir() / "toolbox").glob(f"{name}-py*.tgz"))
        size = f"{built[-1].stat().st_size / 2**20:.1f} MiB" if built else "not built here yet"
        section.rows.append(Row(f"{name} toolbox sent to a machine without it", size, "",
                                "", "gzip tarball, cached on the launcher"))  # fmt: skip
    section.notes.append(
        "The remote is moto on loopback: network time is near zero here, so the saving on a real "
        "bucket (bandwidth-bound) is larger than these ratios; the files-fetched column is what "
        "carries over. DVC counts the directory's manifest as one more file."
    )
    return section
