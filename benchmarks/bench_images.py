"""Pre-baked images on the local LXD cloud: what a bake costs and what it saves.

Time to a ready machine (stack apply + SSH + bootstrap of detect and docker, as a CPU runner for
container jobs needs) from the plain Debian image and from an image baked by `image bake`.
On AWS the saving is larger: the baked steps include the NVIDIA driver and its reboot.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from typing import Any

from benchmarks.common import Row, Section

RUNS = 3


def _ready(image: str | None, name: str) -> tuple[float, dict[str, str]]:
    """Seconds from nothing to a machine whose bootstrap finished; the steps' statuses."""
    from cmlinfra.bootstrap.run import HostResult, run_steps
    from cmlinfra.bootstrap.ssh import SshTarget, connect
    from cmlinfra.bootstrap.steps import Options, build_steps
    from cmlinfra.clouds.base import MachineRequest
    from cmlinfra.stack import service

    start = time.monotonic()
    prepared = service.prepare(MachineRequest(name=name, image=image, max_ttl_seconds=1800), "lxd")
    try:
        address = service.apply(prepared)
        target = SshTarget(
            address.host,
            address.user,
            prepared.stack.key_path,
            address.port,
            address.host_keys,
            name=name,
        )
        host = HostResult(name, address.host)
        with connect(target, wait=120) as ssh:
            run_steps(ssh, build_steps(Options(gpu=False)), host, timeout=900)
        assert host.ok, host.error
        return time.monotonic() - start, {s.name: s.status for s in host.steps}
    finally:
        service.destroy(name)


def run() -> Section:
    from cmlinfra.clouds.lxd import images as lxd
    from cmlinfra.clouds.lxd.api import LxdApi
    from cmlinfra.runner.images import BakeRequest, bake

    token = secrets.token_hex(3)
    alias = f"cmlt-bench-img-{token}"
    section = Section(
        "Pre-baked images (LXD)",
        "python benchmarks/run.py images",
        notes=[
            "Ready = stack apply + SSH + bootstrap (detect, docker) until the last step ends; "
            f"median of {RUNS} machines from each image, one after another (the first from a "
            "new image also pays the storage pool's one-time unpack of it).",
            "The pool is btrfs (scripts/localcloud.sh): a container is a snapshot of its image, "
            "so the baked image's size costs nothing per machine; on a dir pool each machine "
            "unpacks its image (≈ 4 s for the plain one, more for the baked).",
        ],
    )
    with tempfile.TemporaryDirectory() as home:
        os.environ["CMLINFRA_HOME"] = home
        try:
            start = time.monotonic()
            result: Any = bake(BakeRequest(alias, gpu=False, builder_name=f"cmlt-bench-b-{token}"))
            baked = time.monotonic() - start
            plain = [_ready(None, f"cmlt-bench-p{i}-{token}")[0] for i in range(RUNS)]
            fast_runs = [_ready(alias, f"cmlt-bench-f{i}-{token}") for i in range(RUNS)]
        finally:
            fingerprint = lxd.alias_target(LxdApi(), alias)
            if fingerprint:
                lxd.delete(LxdApi(), fingerprint)
    cold, fast = statistics.median(plain), statistics.median(t for t, _ in fast_runs)
    docker = {steps.get("docker") for _, steps in fast_runs}
    section.rows += [
        Row(
            "bake (builder, docker, clean-up, publish, destroy)",
            baked,
            "s",
            note=", ".join(f"{k} {v:.0f}s" for k, v in result.timings.items()),
        ),
        Row("ready from the plain image (cold)", cold, "s", note=_spread(plain)),
        Row(
            "ready from the baked image",
            fast,
            "s",
            note=f"{_spread([t for t, _ in fast_runs])}; docker step: {', '.join(sorted(docker))}",
        ),
        Row("baked / cold", fast / cold, "x", goal="≤ 0.5"),
        Row("saved per machine", cold - fast, "s"),
    ]
    return section


def _spread(values: list[float]) -> str:
    return "runs " + ", ".join(f"{v:.1f}" for v in values) + " s"
