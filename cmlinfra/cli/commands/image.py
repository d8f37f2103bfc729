"""``cmlinfra image bake|list``: pre-baked runner images, so a runner is ready in seconds."""

from __future__ import annotations

import typer

from cmlinfra.cli.clouds import cloud_names, cloud_option
from cmlinfra.cli.common import ssh_cidr_option

BAKE_EXAMPLES = """
Examples:

  # the local cloud: Docker baked into an LXD image, then a runner from it
  cmlinfra image bake --cloud lxd --name cml-docker --no-gpu
  cmlinfra stack apply --cloud lxd --cloud-image cml-docker

  # an AWS GPU AMI with the driver, Docker, the container toolkit and the GitHub runner agent
  cmlinfra image bake --cloud aws --cloud-region us-east-1 --cloud-type g4dn.xlarge \\
      --name cml-gpu-2026-11 --runner-agent github
"""

LIST_EXAMPLES = """
Examples:

  cmlinfra image list
  cmlinfra --json image list --cloud aws --cloud-region eu-west-1
"""


def _paragraphs(doc: str) -> str:
    return "\n\n".join(" ".join(p.split()) for p in doc.strip().split("\n\n"))


def register(root: typer.Typer) -> None:
    group = typer.Typer(
        help="Pre-baked runner images: bake once, launch runners that skip the slow steps.",
        no_args_is_help=True,
    )
    group.command("bake", help=_paragraphs(bake.__doc__ or ""), epilog=BAKE_EXAMPLES)(bake)
    group.command("list", help=_paragraphs(list_.__doc__ or ""), epilog=LIST_EXAMPLES)(list_)
    root.add_typer(group, name="image")


def bake(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Image name: the LXD alias or the AMI name."),
    cloud: str = cloud_option(f"Where to bake: {cloud_names(lambda c: c.images, sep=' or ')}."),
    cloud_image: str = typer.Option(
        "", "--cloud-image", help="Base image (LXD alias, AMI id/name); default: the cloud's."
    ),
    cloud_type: str = typer.Option("m", "--cloud-type", help="Builder size (m, l, xl or a type)."),
    cloud_gpu: str = typer.Option(
        "", "--cloud-gpu", help="A GPU on the builder, to verify the driver before publishing."
    ),
    cloud_region: str = typer.Option("", "--cloud-region", help="Region; the cloud's default."),
    gpu: bool = typer.Option(
        True, "--gpu/--no-gpu", help="Install the NVIDIA driver and container toolkit."
    ),
    runner_agent: str = typer.Option(
        "none", "--runner-agent", help="CI runner agent: github, gitlab, bitbucket or none."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Move an existing alias to the new image (LXD) and drop the old."
    ),
    max_ttl: str = typer.Option(
        "3h", "--max-ttl", help="The builder powers itself off after this, even if bake crashes."
    ),
    ssh_cidr: str | None = ssh_cidr_option(world_flag=False),
    terraform: str = typer.Option("", "--terraform", help="terraform binary; default: PATH."),
    docker_image_tar: list[str] = typer.Option(
        [],
        "--docker-image-tar",
        help="A training image to bake in: a `docker save` archive (loaded), or PATH=NAME:TAG "
        "for a root file system tarball (imported). Repeatable.",
    ),
    builder_name: str = typer.Option(
        "", "--builder-name", help="The builder machine's name; default cmlinfra-bake-<random>."
    ),
) -> None:
    """Bake a runner image: create a builder through the usual stack, run every bootstrap step
    (driver, Docker, NVIDIA container toolkit, runner agent), remove machine identity, host keys,
    key material, logs and history, publish it, and destroy the builder whatever happened.

    Runners launched with --cloud-image NAME skip every step already done in the image.
    """
    from pathlib import Path

    from cmlinfra.cli.common import settings
    from cmlinfra.runner.images import BakeRequest
    from cmlinfra.runner.images import bake as run_bake
    from cmlinfra.runner.watchdog import parse_duration
    from cmlinfra.ui import emit

    if ssh_cidr:  # the builder is never opened to the world: no --allow-world-ssh here
        from cmlinfra.clouds.validate import ssh_cidr as check_cidr

        check_cidr(ssh_cidr, fix="give the build machine's own range, e.g. its address /32")
    images = []
    for item in docker_image_tar:
        path, _, image = item.partition("=")
        images.append((Path(path).expanduser(), image))
    result = run_bake(
        BakeRequest(
            name=name,
            cloud=cloud,
            base_image=cloud_image or None,
            cloud_type=cloud_type,
            cloud_gpu=cloud_gpu or None,
            region=cloud_region or None,
            gpu=gpu,
            runner_agent=runner_agent,
            replace=replace,
            max_ttl_seconds=parse_duration(max_ttl, "--max-ttl") or 3 * 3600,
            ssh_cidr=ssh_cidr or None,
            terraform=terraform or None,
            builder_name=builder_name or None,
            docker_images=tuple(images),
        )
    )
    emit(result, as_json=settings(ctx).as_json, text=result.text())


def list_(
    ctx: typer.Context,
    cloud: str = cloud_option(f"{cloud_names(lambda c: c.images, sep=' or ')}."),
    cloud_region: str = typer.Option(
        "", "--cloud-region", help="Region, for a cloud that has them (default: the cloud's)."
    ),
) -> None:
    """Images baked by cmlinfra: name, id, age, base image and the steps they contain."""
    from cmlinfra.cli.common import settings
    from cmlinfra.runner.images import list_images
    from cmlinfra.ui import emit

    rows = list_images(cloud, cloud_region or None)
    lines = [f"{r['name']:<28} {r['id']:<22} {r['created']:<20} {r['steps']}" for r in rows]
    text = "\n".join(lines) if lines else f"no cmlinfra images on {cloud}"
    emit({"images": rows}, as_json=settings(ctx).as_json, text=text)
