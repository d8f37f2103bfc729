"""The lxd cloud's harness: the real local LXD (scripts/localcloud.sh). Machines are planted
once per module with ``lxc init`` (created, never started: a snapshot of the image, about a
second) carrying the ``user.*`` keys the lxd/runner module sets; every one is deleted at the end.

The error texts were produced on this LXD 5.0.2 (2026-12-04) with a project of our own and then
deleted, except the file-push one, seen under parallel creation (/work/shared/notes)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from cmlinfra.clouds.base import ErrorKind, MachineRequest
from cmlinfra.clouds.lxd.catalog import DEFAULT_IMAGE
from cmlinfra.clouds.lxd.cloud import HOST_KEY_PATH
from cmlinfra.clouds.lxd.tags import EXPIRES_KEY, ROLE_CONFIG_KEY, STACK_KEY
from tests.clouds.contract.kit import ErrorSample, Harness
from tests.fixtures.lxd import LocalCloud

SEEN = "LXD 5.0.2 here, 2026-12-04"
ERRORS = [
    ErrorSample(
        'Error: Reached maximum number of instances of type "container" in project "seam-limits"',
        ErrorKind.QUOTA,
        f"{SEEN}: lxc init in a project with limits.containers=0",
    ),
    ErrorSample(
        "Error: Failed checking if instance creation allowed: Reached maximum aggregate value "
        '"1GiB" for "limits.memory" in project "seam-limits"',
        ErrorKind.QUOTA,
        f"{SEEN}: lxc init -c limits.memory=2GiB in a project with limits.memory=1GiB",
    ),
    ErrorSample(
        "Error: Failed checking if instance creation allowed: Reached maximum aggregate value "
        '"1" for "limits.cpu" in project "seam-limits"',
        ErrorKind.QUOTA,
        f"{SEEN}: lxc init -c limits.cpu=2 in a project with limits.cpu=1",
    ),
    ErrorSample(
        "Could not upload file /root/.ssh/authorized_keys: dial unix "
        "/proc/self/fd/31/forkfile.sock: connect: no such file or directory",
        ErrorKind.TRANSIENT,
        "terraform-lxd 1.5.0 on LXD 5.0.2 under parallel creation, 2026-12-04 "
        "(/work/shared/notes/real-test-infrastructure.md; the same apply succeeds again)",
    ),
    ErrorSample("Error: Image not found", ErrorKind.BAD_REQUEST, f"{SEEN}: lxc init no-such-image"),
    ErrorSample(
        "Error: Failed creating instance record: Invalid CPU limit syntax",
        ErrorKind.BAD_REQUEST,
        f"{SEEN}: lxc init -c limits.cpu=abc",
    ),
]


def _eth0(api: object, name: str) -> bool:
    state = api.get(f"/1.0/instances/{name}/state") or {}  # type: ignore[attr-defined]
    addresses = ((state.get("network") or {}).get("eth0") or {}).get("addresses") or []
    return any(a.get("family") == "inet" and a.get("scope") == "global" for a in addresses)


def _lxc(*args: str) -> str:
    done = subprocess.run(["lxc", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"lxc {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def lxd_harness(lxd: LocalCloud) -> Iterator[Harness]:
    from cmlinfra.clouds.lxd.api import LxdApi
    from cmlinfra.clouds.lxd.images import alias_target

    prefix = lxd.name("ct-")  # the session's prefix: its clean-up deletes what is left
    planted: list[str] = []

    def plant(stack: str, role: str, expires: float | None) -> str:
        config = [f"{STACK_KEY}={stack}", f"{ROLE_CONFIG_KEY}={role}"]
        config += [f"{EXPIRES_KEY}={int(expires)}"] if expires is not None else []
        _lxc("init", DEFAULT_IMAGE, stack, *(a for c in config for a in ("-c", c)))
        planted.append(stack)
        return stack

    taken = f"{prefix}taken"  # an alias of the base image: a name check_free() must refuse
    target = alias_target(LxdApi(), DEFAULT_IMAGE)
    assert target, f"{DEFAULT_IMAGE} is missing: run scripts/localcloud.sh up"
    _lxc("image", "alias", "create", taken, target)

    def address_case() -> tuple[dict[str, object], tuple[str, ...]]:
        """A started container: its host key through the LXD socket, its bridge address."""
        name = f"{prefix}addr"
        _lxc("launch", DEFAULT_IMAGE, name)
        planted.append(name)
        api = LxdApi()
        lxd.wait_until(lambda: _eth0(api, name), timeout=60, what=f"{name}'s address")
        key_type, key, *_ = api.wait_for_file(name, HOST_KEY_PATH).decode().split()
        outputs = {"instance_id": name, "address": "", "ssh_user": "root", "ssh_port": 22}
        return outputs, (f"{key_type} {key}",)

    def request(**kw: object) -> MachineRequest:
        return MachineRequest(**{"name": f"{prefix}render", **kw})  # type: ignore[arg-type]

    try:
        yield Harness(
            cloud="lxd",
            prefix=prefix,
            request=request(),
            bad=[
                (request(cloud_type="p3.2xlarge"), "unknown size 'p3.2xlarge'"),
                (request(region="us-west"), "unknown region 'us-west'"),
                (request(spot=True), "--cloud-spot is not supported by the lxd cloud"),
            ],
            inject=lambda text: request(name=f"{prefix}inject", metadata={"note": text}),
            errors=ERRORS,
            plant=plant,
            taken_image=taken,
            address_case=address_case,
            down={"LXD_SOCKET": "/nonexistent/lxd.socket"},
        )
    finally:
        subprocess.run(["lxc", "image", "alias", "delete", taken], capture_output=True)
        for name in planted:
            subprocess.run(["lxc", "delete", "--force", name], capture_output=True)
