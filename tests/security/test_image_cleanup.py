"""Finding 12: the image clean-up missed GitLab's registration file
(``/etc/cmlinfra/gitlab-runner.toml``, which holds the runner's token).

Replayed on a real LXD container: every file a registered runner of each forge leaves (paths
taken from the code that writes them), each holding a canary token, is planted; the real
``cleanup.sh`` (the one ``image bake`` and Packer run) then leaves no file that holds it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from cmlinfra.images import CLEANUP_SCRIPT
from cmlinfra.runner.agents import ENV_FILE, GITLAB_CONFIG, UNIT
from cmlinfra.runner.watchdog import STATE

pytestmark = pytest.mark.lxd

IMAGE = "cmlinfra-debian-12"
CANARY = "glrt-imagecanary0123456789abcdef"
# every file a runner of each forge, and cmlinfra's agent and watchdog, leave on a machine
PLANTED = [
    ENV_FILE,
    GITLAB_CONFIG,
    "/etc/cmlinfra/.runner_system_id",
    "/etc/gitlab-runner/config.toml",
    "/opt/actions-runner/.runner",
    "/opt/actions-runner/.credentials",
    "/opt/actions-runner/.credentials_rsaparams",
    "/opt/actions-runner/.env",
    "/opt/actions-runner/_diag/Runner_20261204-000000-utc.log",
    "/home/bitbucket/work/build/step.log",
    "/opt/atlassian-bitbucket-pipelines-runner/logs/runner.log",
    f"/etc/systemd/system/{UNIT}",
    f"{STATE}/armed_at",
]


def _lxc(*args: str, input: bytes | None = None, check: bool = True) -> str:
    done = subprocess.run(["lxc", *args], input=input, capture_output=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"lxc {' '.join(args)}: {done.stderr.decode().strip()}")
    return done.stdout.decode()


@pytest.fixture(scope="module")
def builder(lxd) -> Iterator[str]:
    name = lxd.name("cleanup")
    _lxc("launch", IMAGE, name)
    try:
        yield name
    finally:
        _lxc("delete", "--force", name, check=False)


def test_no_runner_registration_survives_the_cleanup(builder: str) -> None:
    for path in PLANTED:
        _lxc("file", "push", "-", f"{builder}{path}", "--create-dirs", input=CANARY.encode())
    _lxc("file", "push", str(CLEANUP_SCRIPT), f"{builder}/root/cleanup.sh")
    _lxc("exec", builder, "--", "bash", "/root/cleanup.sh")
    left = _lxc(
        "exec", builder, "--", "bash", "-c",
        f"grep -rl --exclude-dir=proc --exclude-dir=sys {CANARY} "
        "/etc /opt /home /root /var /usr/local /run || true",
    )  # fmt: skip
    assert left.split() == []
    present = _lxc("exec", builder, "--", "bash", "-c",
                   " ".join(f"test -e {p} && echo {p};" for p in PLANTED) + " true")  # fmt: skip
    assert present.split() == []
