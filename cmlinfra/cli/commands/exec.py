"""``cmlinfra exec``: run one command on a fresh cloud machine that is always destroyed."""

from __future__ import annotations

import typer

from cmlinfra.cli.commands.runner import build_request, machine_options

M = machine_options()


def register(root: typer.Typer) -> None:
    @root.command(
        "exec",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
    )
    def exec_(
        ctx: typer.Context,
        command: list[str] = typer.Argument(None, help="The command, after --."),
        cloud: str = M["cloud"],  # type: ignore[assignment]
        cloud_type: str = M["cloud_type"],  # type: ignore[assignment]
        cloud_gpu: str = M["cloud_gpu"],  # type: ignore[assignment]
        cloud_region: str = M["cloud_region"],  # type: ignore[assignment]
        cloud_hdd_size: int | None = M["cloud_hdd_size"],  # type: ignore[assignment]
        cloud_spot: bool = M["cloud_spot"],  # type: ignore[assignment]
        cloud_spot_price: str = M["cloud_spot_price"],  # type: ignore[assignment]
        cloud_image: str = M["cloud_image"],  # type: ignore[assignment]
        cloud_permission_set: str = M["cloud_permission_set"],  # type: ignore[assignment]
        cloud_metadata: list[str] = M["cloud_metadata"],  # type: ignore[assignment]
        max_ttl: str = M["max_ttl"],  # type: ignore[assignment]
        ssh_cidr: str | None = M["ssh_cidr"],  # type: ignore[assignment]
        allow_world_ssh: bool = M["allow_world_ssh"],  # type: ignore[assignment]
        cloud_aws_subnet: str = M["cloud_aws_subnet"],  # type: ignore[assignment]
        cloud_aws_security_group: str = M["cloud_aws_security_group"],  # type: ignore[assignment]
        state: str = M["state"],  # type: ignore[assignment]
        name: str = M["name"],  # type: ignore[assignment]
        docker_image: str = typer.Option(
            "", "--docker-image", help="Run the command in this image (with the GPUs)."
        ),
        artifacts: list[str] = typer.Option(
            [], "--artifacts", help="Glob of result files to bring back (repeatable; ** works)."
        ),
        workdir: str = typer.Option(".", "--workdir", help="The tree to send (git's view)."),
        bootstrap: str = typer.Option(
            "", "--bootstrap-steps", help="Only these bootstrap steps (comma-separated)."
        ),
        terraform: str = typer.Option("", "--terraform", help="terraform or tofu binary."),
    ) -> None:
        """Provision a machine, send the working tree, run COMMAND with live output, fetch the
        artifacts, and destroy the machine — also when the command fails or the CI job is
        cancelled. Exits with the command's exit code."""
        import sys
        from pathlib import Path

        from cmlinfra.cli.common import settings
        from cmlinfra.runner.execute import ExecOptions, execute
        from cmlinfra.ui import emit, progress

        values = dict(locals())
        as_json = settings(ctx).as_json
        result = execute(
            ExecOptions(
                cloud=cloud,
                request=build_request(values, "exec"),
                command=list(command or []),
                docker_image=docker_image,
                artifacts=list(artifacts),
                workdir=Path(workdir),
                state=state or None,
                terraform=terraform or None,
                bootstrap_steps=tuple(s.strip() for s in bootstrap.split(",") if s.strip()),
                # with --json, stdout carries only the summary: the live output goes to stderr
                output=sys.stderr if as_json else sys.stdout,
            )
        )
        progress(f"exec {result.name}: exit {result.exit_code}; {result.breakdown()}")
        if result.artifacts:
            progress(f"artifacts: {', '.join(result.artifacts)}")
        if as_json:
            emit(result.to_dict(), as_json=True)
        raise typer.Exit(result.exit_code)
