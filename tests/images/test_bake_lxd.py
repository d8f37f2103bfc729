"""A real bake on the local LXD cloud, the published image's contents, and a runner launched
from it that skips the baked steps. Also: failures destroy the builder and publish nothing.

One bake (about a minute: Docker from Debian's mirror) is shared by the module's tests.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.cli import cli_env, run_cli

pytestmark = [pytest.mark.lxd, pytest.mark.slow]


def _api() -> Any:
    from cmlinfra.clouds.lxd.api import LxdApi

    return LxdApi()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cmlinfra-home")


def _cli(home: Path, *args: str) -> Any:
    return run_cli("--json", *args, env={"CMLINFRA_HOME": str(home)}, timeout=900)


def _containers(prefix: str) -> list[str]:
    return [n for n in _api().instance_names() if n.startswith(prefix)]


DOCKER_IMAGE = "cmlt/fruit-data:1"


def _tiny_rootfs(path: Path) -> Path:
    """A one-file root file system, imported into the baked Docker as a training image (no
    registry is reachable here)."""
    import io

    data = b"apple,orange,banana\n"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("classes.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def baked(home: Path) -> Iterator[dict[str, Any]]:
    from cmlinfra.clouds.lxd import images as lxd

    token = secrets.token_hex(3)
    alias, builder = f"cmlt-img-{token}", f"cmlt-bake-{token}"
    rootfs = _tiny_rootfs(home / "fruit-data.tar")
    result = _cli(
        home,
        *("image", "bake", "--cloud", "lxd", "--no-gpu", "--name", alias),
        *("--builder-name", builder, "--docker-image-tar", f"{rootfs}={DOCKER_IMAGE}"),
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        yield {"alias": alias, "builder": builder, "result": json.loads(result.stdout)}
    finally:
        fingerprint = lxd.alias_target(_api(), alias)
        if fingerprint:
            lxd.delete(_api(), fingerprint)


def test_bake_runs_every_step_and_destroys_the_builder(baked: dict[str, Any]) -> None:
    result = baked["result"]
    assert [(s["name"], s["status"]) for s in result["steps"]] == [
        ("detect", "done"),
        ("docker", "done"),
        ("docker-images", "done"),
        ("cleanup", "done"),
    ]
    assert result["builder_destroyed"] is True
    assert _containers(baked["builder"]) == []
    assert set(result["timings"]) >= {f"publishing {baked['alias']}", "destroying builder"}


def test_published_image_is_labelled_and_listed(baked: dict[str, Any], home: Path) -> None:
    from cmlinfra.clouds.lxd import images as lxd

    fingerprint = lxd.alias_target(_api(), baked["alias"])
    assert fingerprint and fingerprint == baked["result"]["image_id"]
    props = _api().get(f"/1.0/images/{fingerprint}")["properties"]
    assert props["cmlinfra.image"] == "true"
    assert props["cmlinfra.steps"] == "detect,docker,docker-images"
    assert props["cmlinfra.base"] == "cmlinfra-debian-12"
    assert props["cmlinfra.docker-images"] == DOCKER_IMAGE
    listed = json.loads(_cli(home, "image", "list").stdout)["images"]
    assert any(
        row["name"] == baked["alias"] and row["steps"] == "detect,docker,docker-images"
        for row in listed
    )


def _rootfs(fingerprint: str) -> dict[str, tarfile.TarInfo]:
    """The published image's files (an uncompressed unified tarball in LXD's image store)."""
    from cmlinfra.clouds.lxd.api import socket_path

    path = socket_path().parent / "images" / fingerprint
    with tarfile.open(path, "r:") as tar:
        return {m.name.removeprefix("rootfs"): m for m in tar if m.name.startswith("rootfs/")}


def test_image_holds_no_identity_keys_history_or_logs(baked: dict[str, Any]) -> None:
    files = _rootfs(baked["result"]["image_id"])
    assert "/usr/sbin/dockerd" in files  # the baked step's work is there
    assert not [n for n in files if re.match(r"/etc/ssh/ssh_host_", n)]
    assert files["/etc/machine-id"].size == 0
    secrets_left = [
        n
        for n in files
        if re.search(r"/(authorized_keys|id_(rsa|ed25519|ecdsa)|\.bash_history|\.credentials)$", n)
    ]
    assert secrets_left == []
    assert [n for n in files if re.match(r"/(var/)?tmp/.", n)] == []
    assert [n for n in files if re.match(r"/(root|home/[^/]+)/\.cmlinfra", n)] == []
    assert [n for n in files if re.match(r"/var/lib/apt/lists/.+_", n)] == []
    logs = sum(m.size for n, m in files.items() if n.startswith("/var/log/") and m.isfile())
    assert logs < 16_384  # only the shutdown's wtmp/lastlog records
    assert "/etc/systemd/system/multi-user.target.wants/cmlinfra-hostkeys.service" in files


def test_runner_from_the_image_skips_baked_steps(baked: dict[str, Any], home: Path) -> None:
    from cmlinfra.bootstrap.run import HostResult, run_steps
    from cmlinfra.bootstrap.ssh import SshTarget, connect
    from cmlinfra.bootstrap.steps import Options, build_steps

    name = f"cmlt-from-{secrets.token_hex(3)}"
    applied = _cli(
        home,
        "stack",
        "apply",
        "--cloud",
        "lxd",
        "--name",
        name,
        "--cloud-image",
        baked["alias"],
        "--max-ttl",
        "30m",
    )
    try:
        assert applied.returncode == 0, applied.stderr[-3000:]
        shown = json.loads(_cli(home, "stack", "show", "--name", name).stdout)
        address = shown["address"]
        target = SshTarget(
            host=address["host"],
            user=address["user"],
            port=address["port"],
            key=Path(shown["ssh_key"]),
            host_keys=tuple(address["host_keys"]),
            name=name,
        )
        host = HostResult(name, target.host)
        with connect(target, wait=120) as ssh:
            run_steps(ssh, build_steps(Options(gpu=False)), host, timeout=300)
            machine_id = ssh.run("cat /etc/machine-id", timeout=30).tail
            inspect = ssh.run(f"docker image inspect {DOCKER_IMAGE}", timeout=60)
        assert host.ok, host.error
        assert {s.name: s.status for s in host.steps} == {"detect": "done", "docker": "skipped"}
        assert re.fullmatch(r"[0-9a-f]{32}", machine_id[-1])  # a fresh identity at first boot
        assert inspect.exit_code == 0  # the baked training image is there, no pull needed
    finally:
        _cli(home, "stack", "destroy", "--name", name)
    assert _containers(name) == []


def test_a_failed_step_publishes_nothing_and_destroys_the_builder(home: Path) -> None:
    from cmlinfra.clouds.lxd import images as lxd

    token = secrets.token_hex(3)
    alias, builder = f"cmlt-img-{token}", f"cmlt-bake-{token}"
    # The GitHub runner agent downloads from github.com, which this machine cannot reach.
    result = _cli(
        home,
        "image",
        "bake",
        "--cloud",
        "lxd",
        "--no-gpu",
        "--name",
        alias,
        "--builder-name",
        builder,
        "--runner-agent",
        "github",
    )
    assert result.returncode == 1
    assert "nothing was published" in result.stderr
    assert lxd.alias_target(_api(), alias) is None
    assert _containers(builder) == []
    assert not (home / "stacks" / builder).exists()


def test_bad_input_creates_nothing(home: Path) -> None:
    builder = f"cmlt-bake-{secrets.token_hex(3)}"
    result = _cli(
        home,
        "image",
        "bake",
        "--name",
        "cmlt-x",
        "--no-gpu",
        "--runner-agent",
        "jenkins",
        "--builder-name",
        builder,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "jenkins" in result.stderr
    assert _containers(builder) == []


@pytest.mark.parametrize("tar", ["missing.tar", "rootfs-without-a-name"])
def test_bad_docker_image_tar_creates_nothing(home: Path, tar: str) -> None:
    path = home / tar if tar == "missing.tar" else _tiny_rootfs(home / "plain.tar")
    builder = f"cmlt-bake-{secrets.token_hex(3)}"
    result = _cli(
        home,
        *("image", "bake", "--name", "cmlt-x", "--no-gpu", "--builder-name", builder),
        *("--docker-image-tar", str(path)),
    )
    assert result.returncode == 2, result.stderr
    assert str(path) in result.stderr
    assert _containers(builder) == []


def test_existing_alias_is_refused_before_building(baked: dict[str, Any], home: Path) -> None:
    builder = f"cmlt-bake-{secrets.token_hex(3)}"
    result = _cli(
        home, "image", "bake", "--name", baked["alias"], "--no-gpu", "--builder-name", builder
    )
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--replace" in result.stderr
    assert _containers(builder) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cancelling_a_bake_destroys_the_builder(home: Path, signum: int) -> None:
    """A cancelled CI job (SIGTERM) or Ctrl-C in the middle of the bootstrap: the builder
    container and its stack directory go, nothing is published, the exit is 143 or 130."""
    from cmlinfra.clouds.lxd import images as lxd

    token = secrets.token_hex(3)
    alias, builder = f"cmlt-img-{token}", f"cmlt-bake-{token}"
    args = ["image", "bake", "--cloud", "lxd", "--no-gpu", "--name", alias]
    proc = subprocess.Popen(
        [sys.executable, "-m", "cmlinfra", *args, "--builder-name", builder],
        env=cli_env({"CMLINFRA_HOME": str(home)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the first line a bootstrap step prints on the builder
            if line.startswith(f"[{builder}] "):
                break
        else:
            raise AssertionError(f"the bake ended before its bootstrap: {proc.wait()}")
        assert _containers(builder) == [builder]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, err[-3000:]
    assert f"baking {alias} was cancelled; the builder {builder} was destroyed" in err
    assert _containers(builder) == []
    assert not (home / "stacks" / builder).exists()
    assert lxd.alias_target(_api(), alias) is None
