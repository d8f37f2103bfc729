"""``cmlinfra exec``: run one command on a fresh cloud machine that is always destroyed."""

from __future__ import annotations

import typer

from cmlinfra.cli.clouds import with_cloud_options
from cmlinfra.cli.machine import build_request, machine_options

M = machine_options()


def register(root: typer.Typer) -> None:
    @root.command(
        "exec",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": False},
    )
    @with_cloud_options()
    def exec_(
        ctx: typer.Context,
        command: list[str] = typer.Argument(None, help="The command, after --."),
        cloud: str = M["cloud"],  # type: ignore[assignment]
        cloud_type: str = M["cloud_type"],  # type: ignore[assignment]
        cloud_gpu: str = M["cloud_gpu"],  # type: ignore[assignment]
        cloud_region: str = M["cloud_region"],  # type: ignore[assignment]
        cloud_hdd_size: int | None = M["cloud_hdd_size"],  # type: ignore[assignment]
        cloud_spot: str = M["cloud_spot"],  # type: ignore[assignment]
        cloud_spot_price: str = M["cloud_spot_price"],  # type: ignore[assignment]
        cloud_image: str = M["cloud_image"],  # type: ignore[assignment]
        cloud_permission_set: str = M["cloud_permission_set"],  # type: ignore[assignment]
        cloud_metadata: list[str] = M["cloud_metadata"],  # type: ignore[assignment]
        max_ttl: str = M["max_ttl"],  # type: ignore[assignment]
        ssh_cidr: str | None = M["ssh_cidr"],  # type: ignore[assignment]
        allow_world_ssh: bool = M["allow_world_ssh"],  # type: ignore[assignment]
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
        dvc: bool | None = typer.Option(
            None,
            "--dvc/--no-dvc",
            help="DVC workflow: dvc pull what the stages need, run (default: dvc repro), dvc "
            "push, bring dvc.lock and the metrics/plots back. Default: on when the tree has "
            "dvc.yaml. See docs/dvc.md for how the remote's credentials reach the machine.",
        ),
        dvc_remote: str = typer.Option(
            "",
            "--dvc-remote",
            help="The DVC remote to pull from and push to (default: core.remote).",
        ),
        commit: bool = typer.Option(
            False,
            "--commit",
            help="With --dvc: commit dvc.lock and the git-tracked metrics and push them to the "
            "branch (the PR's in CI) when the command succeeds.",
        ),
        tensorboard: str = typer.Option(
            "",
            "--tensorboard",
            help="LOGDIR (in the tree): serve TensorBoard on the machine, forwarded over SSH to "
            "a local URL while the command runs; the event files come back.",
        ),
        tensorboard_port: int = typer.Option(
            0, "--tensorboard-port", min=0, max=65535, help="Local port for --tensorboard (0: any)."
        ),
        checkpoint_dir: str = typer.Option(
            "",
            "--checkpoint-dir",
            help="Folder (in the tree) where COMMAND writes its checkpoints. When the cloud "
            "takes a spot machine back mid-run, it is saved, and the command runs again on the "
            "next candidate with it restored (docs/reclaim.md).",
        ),
        max_restarts: int = typer.Option(
            1,
            "--max-restarts",
            min=0,
            help="How many times a reclaimed run starts again on another machine (0: never).",
        ),
        **cloud_options: str | None,  # every cloud's own options (with_cloud_options)
    ) -> None:
        """Provision a machine, send the working tree, run COMMAND with live output, fetch the
        artifacts, and destroy the machine — also when the command fails or the CI job is
        cancelled. Exits with the command's exit code.

        In a DVC repository (dvc.yaml) the data is pulled on the machine, COMMAND defaults to
        `dvc repro`, its outputs are pushed to the remote, and dvc.lock with the metrics and
        plots comes back for `report build --dvc`."""
        import sys
        from pathlib import Path

        from cmlinfra.cli.common import settings
        from cmlinfra.runner.execute import ExecOptions, execute
        from cmlinfra.ui import emit, progress

        values = dict(locals())
        as_json = settings(ctx).as_json
        request = build_request(values, "exec")
        result = execute(
            ExecOptions(
                cloud=cloud,
                request=request,
                spot=str(values["cloud_spot"] or ""),
                command=list(command or []),
                docker_image=docker_image,
                artifacts=list(artifacts),
                workdir=Path(workdir),
                state=state or None,
                terraform=terraform or None,
                bootstrap_steps=tuple(s.strip() for s in bootstrap.split(",") if s.strip()),
                # with --json, stdout carries only the summary: the live output goes to stderr
                output=sys.stderr if as_json else sys.stdout,
                dvc=dvc,
                dvc_remote=dvc_remote,
                commit=commit,
                tensorboard=tensorboard,
                tensorboard_port=tensorboard_port,
                checkpoint_dir=checkpoint_dir,
                max_restarts=max_restarts,
            )
        )
        where = f" on {result.where()}" if result.where() else ""
        progress(f"exec {result.name}: exit {result.exit_code}{where}; {result.breakdown()}")
        if result.artifacts:
            progress(f"artifacts: {', '.join(result.artifacts)}")
        for note in result.notes:
            progress(note)
        if as_json:
            emit(result.to_dict(), as_json=True)
        raise typer.Exit(result.exit_code)
