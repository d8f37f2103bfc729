"""``runner launch --dvc`` end to end on the real LXD cloud, with real DVC against a moto S3
remote on the LXD bridge and the fake forge (requests checked against GitHub's OpenAPI).

One launch for the module: a ``--single`` runner (the stand-in agent, see test_launch_lxd.py)
launched from a DVC project's checkout with launcher-side AWS keys that appear nowhere else.
A job then runs on it as the agent would run one: the job hooks, and the CML workflow (``dvc
pull``, ``dvc repro``, ``dvc push``) as the agent's user with the agent's own environment (read
from its process: what a systemd-started agent hands its jobs), from a checkout without the data.
When that job completes the watchdog removes the credentials and the machine ends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cmlinfra.runner.dvc import CACHE_DIR
from cmlinfra.runner.dvc_runner import CREDENTIALS_DIR, SYSTEM_CONFIG
from cmlinfra.runner.store import open_store
from cmlinfra.runner.watchdog import LIB
from cmlinfra.stack.service import provider_mirror
from tests.fixtures.cli import REPO_ROOT, run_cli
from tests.fixtures.dvc_repo import DvcProject, git, make_project
from tests.fixtures.moto import AWS_ENV, create_bucket, moto_on_bridge
from tests.runner.conftest import PREFIX, containers, files_holding, lxc, wait_until

pytestmark = [pytest.mark.lxd, pytest.mark.slow]
USER, HOME = "runner", "/home/runner"  # the stand-in agent's job user (agents.py)
CHECKOUT = f"{HOME}/work/project"
CREDENTIALS = f"{HOME}/.config/dvc/config"
# the runner image needs git for a CI checkout (GitHub's runner image has it): CML's
# --cloud-startup-script installs it, from Debian's mirror
GIT = base64.b64encode(
    b"DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null && "
    b"DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends git >/dev/null\n"
).decode()


@dataclass
class World:
    project: DvcProject
    endpoint: str
    bucket: str
    secret: str  # the launcher's AWS secret key: must reach only the credentials file
    env: dict[str, str]
    state: str
    home: Path
    prefix: str
    forge: Any

    def launch_args(self, name: str, *extra: str) -> list[str]:
        return [
            "--json", "runner", "launch", "--cloud", "lxd", "--name", name,
            "--state", self.state, "--bootstrap-steps", "detect", "--watchdog-interval", "2",
            "--driver", "github", "--repo", f"{self.forge.url}/acme/ml",
            "--token", self.forge.token, *extra,
        ]  # fmt: skip


@pytest.fixture(scope="module")
def world(lxd, forge_server, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    forge_server.reset()
    forge_server.state.add_repo("github", "acme/ml")
    prefix = f"{PREFIX}{secrets.token_hex(2)}-"
    keys = {
        "AWS_ACCESS_KEY_ID": f"AKIA{secrets.token_hex(8).upper()}",
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    }
    try:
        with moto_on_bridge() as endpoint:
            bucket = f"run-{secrets.token_hex(3)}"
            create_bucket(endpoint, bucket)
            tmp = tmp_path_factory.mktemp("dvcrunner")
            project = make_project(tmp / "project", endpoint, bucket, {**AWS_ENV, **keys})
            env = {
                **AWS_ENV,
                **keys,
                "CMLINFRA_HOME": str(tmp / "home"),
                "CMLINFRA_AGENT_STANDIN": "1",
                "CMLINFRA_CACHE": str(REPO_ROOT / ".cache" / "cmlinfra"),  # the DVC toolbox
                "CMLINFRA_PROVIDER_MIRROR": str(provider_mirror()),  # still localcloud.sh's
            }
            yield World(
                project, endpoint, bucket, keys["AWS_SECRET_ACCESS_KEY"], env,
                str(tmp / "state"), tmp / "home", prefix, forge_server,
            )  # fmt: skip
    finally:
        for name in containers(prefix):
            lxc("delete", "--force", name, check=False)
        found = forge_server.take_violations()
        forge_server.session_violations += found
        assert not found, "requests/responses outside the OpenAPI descriptions:\n" + "\n".join(
            found
        )


@pytest.fixture(scope="module")
def runner(world: World) -> str:
    name = f"{world.prefix}dvc"
    args = world.launch_args(name, "--single", "--idle-timeout", "1h", "--dvc")
    done = run_cli(*args, "--cloud-startup-script", GIT, env=world.env, cwd=world.project.root)
    assert done.returncode == 0, done.stderr[-4000:]
    record = json.loads(done.stdout)
    assert record["phase"] == "ready" and "dvc setup" in record["timings"]
    assert f"dvc: ready for {USER}'s jobs: remote 'storage'" in done.stderr
    assert world.secret not in done.stderr + done.stdout
    return name


def test_dvc_without_a_remote_is_refused_before_anything(world: World, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    git(bare, "init", "-q")
    DvcProject(bare, {}).dvc("init", "-q")
    name = f"{world.prefix}bad"
    refused = run_cli(*world.launch_args(name, "--dvc"), env=world.env, cwd=bare)
    assert refused.returncode == 1, refused.stderr[-2000:]
    lines = refused.stderr.strip().splitlines()
    assert lines == [
        f"cmlinfra: error: no default DVC remote in {bare.resolve()}/.dvc/config; add one: "
        "dvc remote add -d storage s3://BUCKET/PATH (and commit .dvc/config)"
    ]
    forge = ["--driver", "github", "--repo", f"{world.forge.url}/acme/ml"]
    here = run_cli("runner", "launch", "--dvc", *forge, env=world.env, cwd=world.project.root)
    assert here.returncode == 2  # no --cloud: this machine is the runner; --dvc is refused
    assert "--dvc prepares a cloud machine" in here.stderr
    assert name not in containers(world.prefix)
    assert world.forge.state.repo("github", "acme/ml").runners == {}
    store = open_store(world.state)
    assert (store.names(), store.lock_names()) == ([], [])


# the agent's own environment (systemd's, from its unit: HOME, PATH, …), as agents hand it to
# their jobs, read from the running agent's process; then the job's script as its user
AS_AGENT_JOB = (
    'pid=$(systemctl show -p MainPID --value cmlinfra-agent); mapfile -d "" -t vars '
    f'</proc/"$pid"/environ; cd {HOME}; exec runuser -u {USER} -- env -i "${{vars[@]}}" '
    'bash -c "$0"'
)


def _job(name: str, script: str) -> str:
    """``script`` as the agent's job user, with the environment the agent runs in."""
    result = subprocess.run(
        ["lxc", "exec", name, "--", "bash", "-c", AS_AGENT_JOB, script],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{script}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


def _checkout(world: World, name: str) -> None:
    """The job's checkout: the repository with .git, without the DVC-tracked data."""
    listing = git(world.project.root, "ls-files").split()
    files = [".git", *listing]
    assert "data/train.csv" not in listing  # tracked by DVC, not git
    tar = subprocess.run(["tar", "-C", str(world.project.root), "-c", *files],
                         capture_output=True, check=True).stdout  # fmt: skip
    unpack = f"mkdir -p {CHECKOUT} && tar -x -C {CHECKOUT} && chown -R {USER}: {HOME}/work"
    subprocess.run(["lxc", "exec", name, "--", "bash", "-c", unpack], input=tar, check=True)


def test_a_job_pulls_trains_and_pushes_with_the_sent_credentials(runner: str, world: World) -> None:
    name = runner
    stat = lxc("exec", name, "--", "stat", "-c", "%n %a %U", CREDENTIALS, CACHE_DIR, SYSTEM_CONFIG)
    assert stat.split("\n")[:3] == [
        f"{CREDENTIALS} 600 {USER}",  # the job user's only (and root's)
        f"{CACHE_DIR} 700 {USER}",
        f"{SYSTEM_CONFIG} 644 root",  # nothing secret in it
    ]
    # the launcher's secret key is in the job user's credentials file and nowhere else
    assert files_holding(name, world.secret) == [CREDENTIALS]
    assert world.secret not in lxc("exec", name, "--", "ps", "-eo", "args")

    for hook in ("job-started.sh",):  # as the agent does before the job's steps
        lxc("exec", name, "--", "runuser", "-u", USER, "--", "bash", f"{LIB}/{hook}")
    _checkout(world, name)
    out = _job(
        name,
        f"set -e; cd {CHECKOUT}; command -v dvc; dvc config --show-origin cache.dir; "
        "dvc pull data/train.csv; md5sum data/train.csv; dvc repro; dvc push; cat dvc.lock",
    )
    assert "/usr/local/bin/dvc" in out
    assert f"{SYSTEM_CONFIG}\t{CACHE_DIR}" in out  # the system level, not the repository's
    data = hashlib.md5((world.project.root / "data" / "train.csv").read_bytes()).hexdigest()
    assert f"{data}  data/train.csv" in out  # from the remote: the checkout had no data
    # the pulled object is in the machine-wide cache
    lxc("exec", name, "--", "test", "-f", f"{CACHE_DIR}/files/md5/{data[:2]}/{data[2:]}")
    lock = yaml.safe_load(out[out.index("schema:") :])
    model = next(o for o in lock["stages"]["train"]["outs"] if o["path"] == "model/model.bin")
    import boto3

    s3 = boto3.client("s3", endpoint_url=world.endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    key = f"store/files/md5/{model['md5'][:2]}/{model['md5'][2:]}"
    assert s3.head_object(Bucket=world.bucket, Key=key)["ContentLength"] == model["size"]


def test_the_credentials_go_with_the_runner(runner: str, world: World) -> None:
    name = runner
    # watch the files from inside the machine: the container deletes itself right after
    watch = subprocess.Popen(
        ["lxc", "exec", name, "--", "bash", "-c",
         f"timeout 120 bash -c 'while [ -e {CREDENTIALS} ] || [ -e {CREDENTIALS_DIR} ]; "
         "do sleep 0.1; done' && echo removed || echo still there; exec sleep infinity"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert "active" in lxc("exec", name, "--", "systemctl", "is-active", "cmlinfra-agent")
        lxc("exec", name, "--", "runuser", "-u", USER, "--", "bash", f"{LIB}/job-completed.sh")
        assert watch.stdout is not None
        assert watch.stdout.readline().strip() == "removed"  # before the machine went
    finally:
        watch.kill()
        watch.communicate()
    wait_until(lambda: name not in containers(world.prefix), 120, "the runner to end itself")
