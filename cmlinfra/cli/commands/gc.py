"""``cmlinfra gc``: find (and with --yes remove) what launchers left behind."""

from __future__ import annotations

import typer

from cmlinfra.cli.clouds import cloud_names, cloud_option
from cmlinfra.cli.forge_common import driver_option, repo_option, token_option

HELP = """Find runners, machines, locks and forge registrations that no launcher will clean up:
expired runners, records whose machine is gone, launches abandoned by a killed launcher, machines
tagged by cmlinfra that no record claims, stale locks, and runners registered at the forge with
no machine. A spot runner's lost CI jobs are re-run once (--no-rerun: not). Reports only,
unless --yes. Idempotent and safe as a scheduled CI job."""


def register(root: typer.Typer) -> None:
    @root.command("gc", help=HELP)
    def gc(
        ctx: typer.Context,
        state: str = typer.Option(
            "",
            "--state",
            envvar=["CML_GC_STATE", "CML_RUNNER_STATE"],
            help="The runner registry: a directory or s3://bucket/prefix?region=… "
            "(default: ~/.local/state/cmlinfra/runners).",
        ),
        cloud: list[str] = cloud_option(
            f"Clouds whose machines to sweep ({cloud_names(lambda c: c.has_inventory)}); repeat "
            "for several. Default: the clouds of the registry's runners.",
            default=[],
        ),
        region: list[str] = typer.Option(
            [],
            "--region",
            help="Regions to sweep, on clouds that have them (default: those of the runners, "
            "and the cloud's own from its environment, e.g. AWS_REGION).",
        ),
        prefix: str = typer.Option(
            "", "--prefix", help="Only names starting with this (one account, several teams)."
        ),
        lock_max_age: str = typer.Option(
            "1h", "--lock-max-age", help="A lock older than this is abandoned (e.g. 30min, 2h)."
        ),
        forge: bool = typer.Option(
            True, "--forge/--no-forge", help="Also sweep runners registered at the forge."
        ),
        driver: str = driver_option(),
        repo: str = repo_option(
            "Repository URL (default: from the CI), or the organization / group / workspace "
            "URL whose shared runners to sweep."
        ),
        token: str = token_option("Forge token that may remove orphaned runners."),
        rerun: bool = typer.Option(
            True,
            "--rerun/--no-rerun",
            help="With --yes: re-run, once, the CI jobs a spot runner lost when its machine "
            "was reclaimed (GitHub, GitLab: those jobs; Bitbucket: the pipeline that launched "
            "the runner, started again as a new one; not runners launched with --no-retry).",
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="Fix what is found (else: report)."),
    ) -> None:
        from cmlinfra.cli.common import settings
        from cmlinfra.runner.sweep import run_gc
        from cmlinfra.runner.watchdog import parse_duration
        from cmlinfra.ui import emit

        report = run_gc(
            state=state or None,
            clouds=cloud,
            regions=region,
            prefix=prefix,
            lock_max_age=parse_duration(lock_max_age, "--lock-max-age") or 3600,
            forge=(driver or None, repo or None, token or None) if forge else None,
            fix=yes,
            rerun=rerun,
        )
        emit(report.to_dict(), as_json=settings(ctx).as_json, text=report.text())
        if report.failed:
            raise typer.Exit(1)
