"""``exec --dvc`` on the launcher side, with real DVC against moto: the plan, the bad input that
is refused before a machine exists, and how DVC's own failures read (from real DVC output)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cmlinfra.runner import toolbox
from cmlinfra.runner.dvc import CACHE_DIR, DvcPlan, failure, plan
from tests.fixtures.dvc_repo import DVC, DvcProject, git, make_project
from tests.fixtures.moto import free_port


@pytest.fixture(scope="module")
def project(moto_server, tmp_path_factory) -> DvcProject:  # type: ignore[no-untyped-def]
    bucket = f"plan-{secrets.token_hex(3)}"
    moto_server.client("s3").create_bucket(Bucket=bucket)
    root = tmp_path_factory.mktemp("dvcplan") / "project"
    return make_project(root, moto_server.endpoint, bucket, moto_server.env)


def test_plan_reads_remote_targets_files_and_credentials(project, moto) -> None:
    found = plan(project.root, ["dvc", "repro"])
    assert (found.remote, found.scheme) == ("storage", "s3")
    assert found.url.startswith("s3://plan-")
    assert found.pull == ["data/train.csv"] and not found.pull_all  # what the stage needs
    for path in ("dvc.lock", "**/*.dvc", "metrics.json", "loss.json"):
        assert path in found.fetch
    assert "model/model.bin" not in found.fetch  # in the remote, not in git
    # the launcher's AWS credentials (boto3's chain: here the environment) go in config.local
    assert found.options["access_key_id"] == "testing"
    config = found.config_local()
    assert "***" in repr(config) and "testing" not in repr(config)
    text = config.reveal()
    for line in ("no_scm = true", f"dir = {CACHE_DIR}", "['remote \"storage\"']"):
        assert line in text
    assert found.requirement.startswith("dvc[s3]==")
    # another command: everything is pulled
    other = plan(project.root, ["python3", "train.py"])
    assert other.pull_all and other.pull == ["data/train.csv"]  # model/: never trained yet


def test_plan_with_instance_identity_sends_no_credentials(project, moto) -> None:
    found = plan(project.root, ["dvc", "repro"], identity=True)
    assert not {"access_key_id", "secret_access_key", "session_token"} & set(found.options)
    assert found.identity


def test_config_local_credentials_and_key_files_travel(project, tmp_path) -> None:
    key = tmp_path / "sa.json"
    key.write_text('{"type": "service_account"}')
    local = project.root / ".dvc" / "config.local"
    try:
        project.dvc("remote", "modify", "--local", "storage", "access_key_id", "AKIALOCAL123")
        project.dvc("remote", "modify", "--local", "storage", "credentialpath", str(key))
        found = plan(project.root, ["dvc", "repro"])
    finally:
        local.unlink()
    assert found.options["access_key_id"] == "AKIALOCAL123"
    remote_path = found.options["credentialpath"]
    assert remote_path.startswith("/root/") and found.files[remote_path].reveal() == key.read_text()


def _bare(tmp_path: Path, remote: str | None) -> Path:
    root = tmp_path / "bare"
    root.mkdir()
    git(root, "init", "-q")
    subprocess.run([*DVC, "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text("stages:\n  s:\n    cmd: 'true'\n")
    if remote:
        subprocess.run([*DVC, "remote", "add", "-d", "r", remote], cwd=root, check=True)
    return root


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        (None, "no default DVC remote in {root}/.dvc/config; add one: dvc remote add -d storage"),
        ("/srv/dvc", "DVC remote 'r' is '/srv/dvc', which the machine cannot reach; use a cloud"),
    ],
)
def test_exec_refuses_a_remote_the_machine_cannot_use_before_creating_anything(
    cli, tmp_path, remote, expected
) -> None:
    root = _bare(tmp_path, remote)
    home = tmp_path / "home"
    done = cli("exec", "--cloud", "lxd", "--state", str(tmp_path / "state"), cwd=root,
               env={"CMLINFRA_HOME": str(home)})  # fmt: skip
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "cmlinfra: error: " + expected.format(root=root)
    ), done.stderr
    assert not (home / "stacks").exists() or not any((home / "stacks").iterdir())


def test_commit_needs_dvc_and_a_branch(cli, project, tmp_path) -> None:
    plain = cli("exec", "--no-dvc", "--commit", "--", "true", cwd=project.root)
    assert plain.returncode == 2 and "--commit pushes dvc.lock; use it with --dvc" in plain.stderr
    clone = tmp_path / "detached"
    git(tmp_path, "clone", "-q", str(project.root), str(clone))
    git(clone, "checkout", "-q", "--detach")
    done = cli("exec", "--cloud", "lxd", "--commit", cwd=clone,
               env={"CMLINFRA_HOME": str(tmp_path / "h"), **project.env})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "--commit: cannot tell which branch to push to" in done.stderr


def _pull(root: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    """A real ``dvc pull`` in a fresh copy of the tree, as the machine runs it."""
    done = subprocess.run(
        [*DVC, "pull", "data/train.csv"],
        cwd=root,
        env={**os.environ, **env, "DVC_NO_ANALYTICS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def _copy(project: DvcProject, tmp_path: Path, endpoint: str) -> tuple[Path, DvcPlan]:
    root = tmp_path / "copy"
    shutil.copytree(project.root, root, ignore=shutil.ignore_patterns("cache", "tmp"))
    shutil.rmtree(root / ".dvc" / "cache", ignore_errors=True)
    (root / "data" / "train.csv").unlink()
    subprocess.run([*DVC, "remote", "modify", "storage", "endpointurl", endpoint], cwd=root,
                   check=True)  # fmt: skip
    return root, plan(root, ["dvc", "repro"])


def test_unreachable_remote_reads_as_one_line(project, tmp_path, moto) -> None:
    root, found = _copy(project, tmp_path, f"http://127.0.0.1:{free_port()}")
    code, tail = _pull(root, {**project.env, "AWS_MAX_ATTEMPTS": "1"})
    assert code == 1
    error = failure(found, "pull", code, tail)
    assert error.exit_code == 1
    assert error.line() == (
        f"dvc pull failed (exit 1): the DVC remote 'storage' ({found.url}) is unreachable from "
        "the machine; check the remote's URL/endpointurl and that the machine's network reaches it"
    )


def test_refused_credentials_read_as_one_line(project, tmp_path, moto) -> None:
    """A second moto server with authentication on (moto's INITIAL_NO_AUTH_ACTION_COUNT)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "moto with authentication did not start"
                time.sleep(0.2)
        root, found = _copy(project, tmp_path, f"http://127.0.0.1:{port}")
        code, tail = _pull(root, project.env)
    finally:
        server.terminate()
        server.wait(timeout=30)
    error = failure(found, "pull", code, tail)
    assert code == 1
    assert error.line().startswith(
        f"dvc pull failed (exit 1): the DVC remote 'storage' ({found.url}) refused the "
        "credentials; give the machine access: --cloud-permission-set"
    ), (error.line(), tail)


def test_data_missing_from_the_remote_reads_as_one_line(project, tmp_path, moto_server) -> None:
    moto_server.client("s3").create_bucket(Bucket="empty-" + secrets.token_hex(3))
    root, found = _copy(project, tmp_path, moto_server.endpoint)
    subprocess.run([*DVC, "remote", "modify", "storage", "url", "s3://empty-nothing/x"], cwd=root,
                   check=True)  # fmt: skip
    moto_server.client("s3").create_bucket(Bucket="empty-nothing")
    code, tail = _pull(root, project.env)
    error = failure(found, "pull", code, tail)
    assert "is not in the DVC remote" in error.line() or "no such bucket" in error.line(), tail
    assert error.fix


def test_toolbox_reads_the_machine_and_names_its_wheels() -> None:
    target = toolbox.parse_probe(["python 3.11", "machine x86_64", "libc glibc 2.36"])
    assert target == toolbox.Target("3.11", "x86_64", "2.36")
    tags = target.platforms()
    assert tags[0] == "manylinux_2_36_x86_64" and "manylinux_2_17_x86_64" in tags
    assert tags[-2:] == ["linux_x86_64", "any"]
    assert toolbox.parse_probe(["python none"]) is None
    musl = toolbox.parse_probe(["python 3.12", "machine aarch64", "libc "])
    assert musl is not None and musl.platforms() == ["linux_aarch64", "any"]
    script = toolbox.wrapper("/opt/cmlinfra/tools/dvc/x", "dvc.cli", "main")
    assert "sys.path.insert(0, '/opt/cmlinfra/tools/dvc/x')" in script
    assert script.startswith("#!/usr/bin/env python3\n")
