"""Real installs on containers of the local LXD cloud (Debian 12, ``security.nesting=true``)."""

from __future__ import annotations

import pytest

from cmlinfra.bootstrap.run import bootstrap_host
from cmlinfra.bootstrap.ssh import connect
from cmlinfra.bootstrap.steps import Options, build_steps

pytestmark = pytest.mark.lxd

TINY_IMAGE = """set -euo pipefail
apt-get -q -o DPkg::Lock::Timeout=120 install -y --no-install-recommends busybox-static >/dev/null
root=$(mktemp -d)
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
tar -C "$root" -c . | docker import - cmlt/tiny:1 >/dev/null
# the tiny image's own root: only what the tarball and docker put there (no /usr)
docker run --rm cmlt/tiny:1 /bin/busybox sh -c '/bin/busybox echo "root: $(/bin/busybox ls / | /bin/busybox tr "\\n" " ")"' 
"""


def test_docker_from_debian_packages_then_a_registry_free_image(lxd_hosts) -> None:
    """Cold bootstrap installs Docker (docker.io) for real; the re-run skips it; a rootfs
    tarball imported with ``docker import`` then runs without any registry."""
    host = lxd_hosts("docker-")
    steps = build_steps(Options(gpu=False))
    assert [s.name for s in steps] == ["detect", "docker"]

    cold = bootstrap_host(host.target(), steps, wait=60, timeout=900)
    assert cold.ok, (cold.error, cold.tail)
    assert [(s.name, s.status) for s in cold.steps] == [("detect", "done"), ("docker", "done")]
    assert cold.facts["os"] == "debian" and cold.facts["gpu"] == "none"
    assert host.exec("docker version --format '{{.Server.Version}}'").strip()

    again = bootstrap_host(host.target(), steps, wait=60, timeout=900)
    assert again.ok
    assert [(s.name, s.status) for s in again.steps] == [("detect", "done"), ("docker", "skipped")]
    assert again.steps[1].note.startswith("already done (docker ")

    with connect(host.target(), wait=30) as ssh:
        run = ssh.run(TINY_IMAGE, timeout=300)
    assert run.exit_code == 0, run.tail
    entries = run.tail[-1].removeprefix("root: ").split()
    assert "bin" in entries and "proc" in entries and "usr" not in entries, run.tail
