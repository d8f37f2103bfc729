"""``image bake``: a runner image made by the same stack and bootstrap a runner uses.

A builder machine is created through the ordinary stack (so it gets the same key pair, host-key
verification, firewall and max-TTL as any runner), every slow bootstrap step runs on it, the
clean-up script removes what must not be shared between machines, the cloud publishes it (LXD:
an image with an alias and properties; AWS: a tagged AMI), and the builder is destroyed — in a
``finally``, whether publishing worked or not. Because each bootstrap step checks its own result
first, a runner launched from the image (``--cloud-image``) skips every step done here.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cmlinfra import __version__
from cmlinfra.clouds import DEFAULT_CLOUD
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.ui import progress, timed

BUILDER_PREFIX = "cmlinfra-bake-"
DEFAULT_BUILDER_TTL = 3 * 3600  # even a crashed bake's builder powers itself off


@dataclass(frozen=True)
class BakeRequest:
    name: str  # the cloud's image name (LXD alias, AMI name)
    cloud: str = DEFAULT_CLOUD
    base_image: str | None = None  # the cloud's default when None
    cloud_type: str = "m"
    cloud_gpu: str | None = None  # a GPU on the builder itself (verifies the driver)
    region: str | None = None
    gpu: bool = True  # install the GPU steps (driver, container toolkit, check)
    runner_agent: str = "none"
    replace: bool = False
    max_ttl_seconds: int = DEFAULT_BUILDER_TTL
    ssh_cidr: str | None = None
    terraform: str | None = None
    builder_name: str | None = None  # default: cmlinfra-bake-<random>
    docker_images: tuple[tuple[Path, str], ...] = ()  # (tarball, name or "" for docker load)


@dataclass
class BakeResult:
    cloud: str
    name: str
    image_id: str = ""
    builder: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    builder_destroyed: bool = False

    def text(self) -> str:
        steps = ", ".join(f"{s['name']} {s['status']} {s['seconds']:.0f}s" for s in self.steps)
        times = ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.items())
        return f"image {self.name} ({self.image_id}) on {self.cloud}: {steps}\ntimes: {times}"


def _steps(request: BakeRequest) -> list[Any]:
    from cmlinfra.bootstrap.steps import Options, Step, build_steps
    from cmlinfra.images import CLEANUP_SCRIPT, docker_import_script

    steps = build_steps(Options(gpu=request.gpu, runner_agent=request.runner_agent))
    for tarball, name in request.docker_images:
        if not tarball.is_file():
            raise UsageError(f"--docker-image-tar {tarball}: no such file", "check the path")
        if not name and not has_manifest(tarball):
            raise UsageError(
                f"{tarball} is not a `docker save` archive (no manifest.json)",
                f"name the image to `docker import` it: --docker-image-tar {tarball}=name:tag",
            )
    if request.docker_images:
        script = docker_import_script([(_remote(t), n) for t, n in request.docker_images])
        steps.append(Step("docker-images", script))
    return [*steps, Step("cleanup", CLEANUP_SCRIPT.read_text())]


IMAGES_DIR = "/var/tmp/cmlinfra-images"  # uploaded tarballs; removed after loading


def _remote(tarball: Path) -> str:
    return f"{IMAGES_DIR}/{tarball.name}"


def has_manifest(tarball: Path) -> bool:
    """A `docker save` archive (loaded as is) rather than a root file system (imported)."""
    import tarfile

    with tarfile.open(tarball) as tar:
        return any(m.name.lstrip("./") == "manifest.json" for m in tar)


def _upload_images(ssh: Any, request: BakeRequest) -> None:
    """Stream each tarball over SFTP (no copy in memory) into a staging directory only the
    login user can read; the docker-images step loads and deletes them."""
    if not request.docker_images:
        return
    import shlex

    owner = shlex.quote(ssh.target.user)  # SFTP writes as the login user; run() is root
    ssh.run(f"install -d -m 0700 -o {owner} {IMAGES_DIR}", timeout=60)
    sftp = ssh._sftp_client()  # the transport's own SFTP session
    for tarball, _name in request.docker_images:
        sftp.put(str(tarball), _remote(tarball))


def image_store(cloud: str, region: str | None, command: str = "image bake") -> Any:
    """The cloud's :class:`~cmlinfra.clouds.base.ImageStore`; a one-line error naming the
    clouds that have one otherwise."""
    from cmlinfra.clouds import get_cloud, names_where

    store = get_cloud(cloud).images(region)
    if store is None:
        clouds = " or ".join(names_where(lambda c: c.images))
        raise UsageError(f"{command} does not support --cloud {cloud}", f"use {clouds}")
    return store


def bake(request: BakeRequest) -> BakeResult:
    """Build, clean, publish, and always destroy the builder — on SIGTERM/SIGINT too (a
    cancelled CI job), exiting 143/130."""
    from cmlinfra.clouds.base import MachineRequest
    from cmlinfra.clouds.tags import IMAGE_BUILDER_ROLE, ROLE_KEY
    from cmlinfra.runner.signals import cancellable, exit_code
    from cmlinfra.stack import service
    from cmlinfra.stack.store import stack_dir

    steps = _steps(request)  # a bad --runner-agent fails here, before anything exists
    image_store(request.cloud, request.region).check_free(request.name, replace=request.replace)
    builder = request.builder_name or BUILDER_PREFIX + secrets.token_hex(3)
    result = BakeResult(request.cloud, request.name, builder=builder)
    machine_request = MachineRequest(
        name=builder,
        cloud_type=request.cloud_type,
        gpu=request.cloud_gpu,
        region=request.region,
        image=request.base_image,
        metadata={ROLE_KEY: IMAGE_BUILDER_ROLE},  # gc leaves it alone until it expires
        ssh_cidr=request.ssh_cidr,
        max_ttl_seconds=request.max_ttl_seconds,
        ephemeral=False,  # LXD deletes an ephemeral container when it stops: publish needs it
    )
    if stack_dir(builder).root.exists():  # never build on (and then destroy) another stack
        raise UsageError(f"a stack named {builder!r} already exists", "pick another --builder-name")
    prepared = service.prepare(machine_request, request.cloud, terraform=request.terraform)
    try:
        with cancellable():
            _build(request, prepared, steps, result)
    except BaseException as exc:
        code = exit_code(exc)
        if code is None:
            raise
        error = CmlinfraError(
            f"baking {request.name} was cancelled; the builder {builder} was destroyed",
            "nothing was published",
        )
        error.exit_code = code
        raise error from None
    return result


def _build(request: BakeRequest, prepared: Any, steps: list[Any], result: BakeResult) -> None:
    """Build and publish on the builder, destroying it in every case (a cancellation waits
    for that: further signals are ignored meanwhile)."""
    from cmlinfra.bootstrap.run import HostResult, run_steps
    from cmlinfra.bootstrap.ssh import SshTarget, connect
    from cmlinfra.runner.signals import shielded
    from cmlinfra.stack import service
    from cmlinfra.stack.store import stack_dir

    builder, timings = result.builder, result.timings
    try:
        with timed(f"creating builder {builder}", timings):
            address = service.apply(prepared)
        target = SshTarget(
            host=address.host,
            user=address.user,
            key=prepared.stack.key_path,
            port=address.port,
            host_keys=address.host_keys,
            name=builder,
        )
        host = HostResult(builder, address.host)
        with timed("bootstrap + clean-up", timings), connect(target, wait=300) as ssh:
            _upload_images(ssh, request)
            run_steps(ssh, steps, host, timeout=1800)
        result.steps = [
            {"name": s.name, "status": s.status, "seconds": round(s.seconds, 1)} for s in host.steps
        ]
        if not host.ok:
            raise CmlinfraError(
                f"baking {request.name} failed on the builder: {host.error}",
                "see the step output above; nothing was published",
            )
        props = {
            "cmlinfra.steps": ",".join(s.name for s in steps if s.name != "cleanup"),
            "cmlinfra.base": str(prepared.machine.image or ""),
            "cmlinfra.version": __version__,
            "cmlinfra.docker-images": ",".join(n or t.name for t, n in request.docker_images),
            "cmlinfra.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "description": f"cmlinfra runner image {request.name}",
        }
        with timed(f"publishing {request.name}", timings):
            store = image_store(request.cloud, prepared.machine.region)
            result.image_id = store.publish(
                address.instance_id, request.name, props, replace=request.replace
            )
        progress(f"published {request.cloud} image {request.name} ({result.image_id})")
    finally:
        with shielded():
            if stack_dir(builder).exists():
                start = time.monotonic()
                service.destroy(builder, terraform=request.terraform)
                timings["destroying builder"] = time.monotonic() - start
            result.builder_destroyed = True


def list_images(cloud: str, region: str | None = None) -> list[dict[str, Any]]:
    """``image list``: the cloud's cmlinfra images, as rows."""
    return [image.to_dict() for image in image_store(cloud, region, "image list").list_images()]
