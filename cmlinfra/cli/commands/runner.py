"""``cmlinfra runner launch|destroy|list``: self-hosted CI runners on a cloud, CML-compatible."""

from __future__ import annotations

import typer

from cmlinfra.cli.clouds import cloud_option, creating_cloud_help, with_cloud_options
from cmlinfra.cli.compat import RUNNER_LAUNCH, accepts
from cmlinfra.cli.forge_common import driver_option, repo_option, token_option
from cmlinfra.cli.machine import STATE_HELP, build_request, machine_options

REPO_HELP = (
    "Repository URL (default: from the CI environment); an organization, group or workspace "
    "URL (https://github.com/ORG, https://gitlab.com/GROUP, https://bitbucket.org/WORKSPACE) "
    "registers runners shared by all its repositories."
)


M = machine_options()


def register(root: typer.Typer) -> None:
    group = typer.Typer(
        help="Launch, list and destroy self-hosted CI runners on a cloud.", no_args_is_help=True
    )

    @group.command("launch")
    @accepts(RUNNER_LAUNCH)
    @with_cloud_options()
    def launch(
        ctx: typer.Context,
        cloud: str = cloud_option(
            f"{creating_cloud_help()} Without --cloud, as in CML: THIS machine becomes the "
            "runner, in the foreground, until idle, --single's job, --max-ttl or SIGTERM "
            "(then it unregisters; nothing is powered off).",
            default="",
        ),
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
        labels: str = typer.Option("cml", "--labels", help="Comma-separated runner labels."),
        runner_group: str = typer.Option(
            "",
            "--runner-group",
            help="GitHub organization runners: the runner group they join, by name (as the "
            "organization's settings show it) or id; checked before a machine is created "
            "(default: the Default group).",
        ),
        idle_timeout: str = typer.Option(
            "5min", "--idle-timeout", help="Power off after this long without a job (never: off)."
        ),
        single: bool = typer.Option(False, "--single", help="One job, then the machine goes."),
        count: int = typer.Option(
            1,
            "--count",
            min=1,
            help="Launch this many identical runners at once, named NAME-1 … NAME-N: one "
            "process checks, synthesizes and registers for all, the machines come up side by "
            "side. All or none: if one fails, every one is torn down. Each is then an "
            "ordinary runner (own machine, watchdog, 'runner destroy NAME-2').",
        ),
        reuse: bool = typer.Option(False, "--reuse", help="Reuse a ready runner with a label."),
        reuse_idle: bool = typer.Option(
            False, "--reuse-idle", help="Reuse only a runner the forge reports idle."
        ),
        driver: str = driver_option(),
        repo: str = repo_option(REPO_HELP),
        token: str = token_option(
            "Forge token that registers the runner; it never reaches the machine."
        ),
        bootstrap: str = typer.Option(
            "", "--bootstrap-steps", help="Only these bootstrap steps (comma-separated)."
        ),
        terraform: str = typer.Option("", "--terraform", help="terraform or tofu binary."),
        cloud_startup_script: str = typer.Option(
            "",
            "--cloud-startup-script",
            help="Base64-encoded script run as root after the bootstrap, before the runner "
            "registers (a bootstrap step over SSH, never user-data).",
        ),
        watchdog_interval: int = typer.Option(
            15, "--watchdog-interval", hidden=True, help="Seconds between watchdog checks."
        ),
        no_retry: bool = typer.Option(
            False,
            "--no-retry",
            help="CML's: do not re-run the workflow when the runner is lost (a spot reclaim). "
            "Recorded with the runner; see docs/migrating-from-cml.md.",
        ),
        dvc: bool = typer.Option(
            False,
            "--dvc",
            help="Make DVC ready for the jobs (dvc pull / repro / push in the workflow): DVC "
            "with the remote's extra on PATH, the machine-wide cache /var/cache/cmlinfra/dvc, "
            "and the remote's credentials as 0600 files of the job user's (none with "
            "--cloud-permission-set), removed when the runner goes. The remote is read from the "
            "DVC repository in the current directory. Off by default, as in CML. See "
            "docs/dvc.md.",
        ),
        dvc_remote: str = typer.Option(
            "", "--dvc-remote", help="With --dvc: the DVC remote (default: core.remote)."
        ),
        checkpoint_dir: str = typer.Option(
            "",
            "--checkpoint-dir",
            help="Spot runners (GitHub, GitLab, Bitbucket): on a reclaim notice the machine "
            "uploads this folder of the job's workspace to the --state registry (s3://, gs:// "
            "or azurerm://) through a presigned URL; 'gc' keeps it for the job's re-run, whose "
            "'checkpoint restore' gets it back (docs/reclaim.md).",
        ),
        **cloud_options: str | None,  # every cloud's own options (with_cloud_options)
    ) -> None:
        """Provision a machine, register it as a CI runner, and leave it a watchdog that
        unregisters it and powers it off (a pod: ends its Job) when idle, after --single's job,
        or at --max-ttl. Without --cloud: register this machine instead, as CML does. With
        --dvc the jobs find DVC, a shared cache and the remote's credentials ready."""
        from cmlinfra.bootstrap.startup import decode
        from cmlinfra.cli.common import settings
        from cmlinfra.runner.launch import LaunchOptions
        from cmlinfra.runner.launch import launch as run_launch
        from cmlinfra.runner.watchdog import parse_duration
        from cmlinfra.ui import emit

        values = dict(locals())
        if (dvc or dvc_remote) and not cloud:
            from cmlinfra.errors import UsageError

            raise UsageError(
                "--dvc prepares a cloud machine for DVC; without --cloud the jobs run here, "
                "with this machine's own DVC and credentials",
                "add --cloud lxd|aws|…, or drop --dvc",
            )
        if dvc_remote and not dvc:
            from cmlinfra.errors import UsageError

            raise UsageError("--dvc-remote names the remote for --dvc", "add --dvc")
        if checkpoint_dir and not cloud:
            from cmlinfra.runner.checkpoints import refuse_here

            refuse_here()
        if count > 1 and not cloud:
            from cmlinfra.errors import UsageError

            raise UsageError(
                "--count launches machines; without --cloud this machine is the one runner",
                "add --cloud lxd|aws, or drop --count",
            )
        if not cloud:
            from cmlinfra.cli.runner_local import launch_here

            done = launch_here(values)
            verb = "reusing" if done["reused"] else "done:"
            text = f"runner {done['name']} {verb} {'' if done['reused'] else done['reason']}"
            emit(done, as_json=settings(ctx).as_json, text=text.rstrip())
            return
        startup = decode(cloud_startup_script) if cloud_startup_script else None
        options = LaunchOptions(
            cloud=cloud,
            request=build_request(values, "runner launch"),
            spot=str(values["cloud_spot"] or ""),
            labels=[label.strip() for label in labels.split(",") if label.strip()],
            idle_timeout=parse_duration(idle_timeout, "--idle-timeout"),
            single=single,
            reuse=reuse,
            reuse_idle=reuse_idle,
            driver=driver or None,
            repo=repo or None,
            token=token or None,
            state=state or None,
            terraform=terraform or None,
            bootstrap_steps=tuple(s.strip() for s in bootstrap.split(",") if s.strip()),
            watchdog_interval=watchdog_interval,
            runner_group=runner_group,
            startup_script=startup,
            no_retry=no_retry,
            dvc=dvc,
            dvc_remote=dvc_remote,
            checkpoint_dir=checkpoint_dir.strip(),
        )
        if count > 1:
            from cmlinfra.runner.fleet import launch_many

            results = launch_many(options, count)
        else:
            results = [run_launch(options)]
        lines = []
        for result in results:
            verb = "reusing" if result.reused else "launched"
            breakdown = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
            where = f" ({result.where()})" if result.where() else ""
            lines.append(f"{verb} runner {result.record.name}{where} {breakdown}".rstrip())
        # one runner: the same document as always; several: {"runners": [those documents]}
        many = {"runners": [r.to_dict() for r in results]}
        document = results[0].to_dict() if count == 1 else many
        emit(document, as_json=settings(ctx).as_json, text="\n".join(lines))

    @group.command("destroy")
    def destroy(
        ctx: typer.Context,
        names: list[str] = typer.Argument(None, help="Runner names."),
        all_: bool = typer.Option(False, "--all", help="Every runner in the registry."),
        state: str = typer.Option("", "--state", help=STATE_HELP),
        driver: str = driver_option(),
        repo: str = repo_option(
            "Where to unregister (default: from the CI environment). Each runner is "
            "unregistered where its record says it was registered — its repository, or its "
            "organization / group / workspace — with this forge's token."
        ),
        token: str = token_option(
            "Forge token that may remove the runners (organization / group / workspace "
            "runners need an admin's: see docs/forges.md)."
        ),
    ) -> None:
        """Unregister runners at the forge and destroy their machines."""
        from cmlinfra.cli.common import settings
        from cmlinfra.errors import UsageError
        from cmlinfra.runner.teardown import destroy as run_destroy
        from cmlinfra.ui import emit

        if not names and not all_:
            raise UsageError("name the runners to destroy", "give NAME… or --all")
        spec = (driver or None, repo or None, token or None)
        done = run_destroy(names or [], all_=all_, state=state or None, forge_spec=spec)
        text = "\n".join(f"destroyed {n}" for n in done) or "no runners"
        emit({"destroyed": done}, as_json=settings(ctx).as_json, text=text)

    @group.command("list")
    def list_(
        ctx: typer.Context,
        state: str = typer.Option("", "--state", help=STATE_HELP),
    ) -> None:
        """Runners in the registry: cloud, type, scope (repository, or the organization / group /
        workspace pool), phase, age, idle time, expiry and cost so far."""
        from cmlinfra.cli.common import settings
        from cmlinfra.runner.listing import list_runners, table
        from cmlinfra.runner.store import open_store
        from cmlinfra.ui import emit

        rows = list_runners(open_store(state or None))
        emit({"runners": rows}, as_json=settings(ctx).as_json, text=table(rows))

    root.add_typer(group, name="runner")
