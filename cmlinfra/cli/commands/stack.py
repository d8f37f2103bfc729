"""``cmlinfra stack render|plan|apply|destroy|show``: one runner machine as a Terraform stack,
without bootstrapping it (``runner launch`` does both). Useful to inspect exactly what would be
created, to pre-create a machine, and to clean up after a crashed launcher."""

from __future__ import annotations

import inspect
from typing import Any

import typer

from cmlinfra.cli.clouds import cloud_list, cloud_option, with_cloud_options
from cmlinfra.cli.common import (
    CLOUD_LIST_HELP,
    MAX_TTL_HELP,
    REGION_HELP,
    SPOT_HELP,
    SPOT_PRICE_HELP,
    TYPE_HELP,
    allow_world_ssh_option,
    settings,
    ssh_cidr_option,
)
from cmlinfra.cli.forge_common import driver_option, repo_option, token_option

HELP = """One runner machine as a Terraform stack, without bootstrapping it (runner launch does
both): render or plan exactly what would be created, pre-create a machine, or clean up after
a crashed launcher. Stacks live in $CMLINFRA_HOME/stacks/NAME."""

app = typer.Typer(help=HELP, no_args_is_help=True)

NAME = typer.Option(None, "--name", help="Stack (and machine) name; default cml-<random>.")
CLOUD = cloud_option(f"Cloud: {cloud_list()}. {CLOUD_LIST_HELP}")
TYPE = typer.Option("m", "--cloud-type", help=TYPE_HELP)
GPU = typer.Option(None, "--cloud-gpu", help="GPU: nogpu, or a model (e.g. t4, v100, h100).")
REGION = typer.Option(None, "--cloud-region", help=REGION_HELP)
HDD = typer.Option(None, "--cloud-hdd-size", help="Root disk size in GB.")
# a value is optional: cli/cml.py turns a bare --cloud-spot into --cloud-spot=true
SPOT = typer.Option("", "--cloud-spot", metavar="[auto]", help=SPOT_HELP)
SPOT_PRICE = typer.Option(None, "--cloud-spot-price", help=SPOT_PRICE_HELP)
IMAGE = typer.Option(None, "--cloud-image", help="Image (AMI id/name, LXD alias).")
PERMISSION = typer.Option(
    None, "--cloud-permission-set", help="Instance profile / role for the machine."
)
METADATA = typer.Option([], "--cloud-metadata", help="key=value label on the machine (repeatable).")
SSH_CIDR = ssh_cidr_option()
WORLD_SSH = allow_world_ssh_option()
MAX_TTL = typer.Option(None, "--max-ttl", help=MAX_TTL_HELP)
TERRAFORM = typer.Option(
    None, "--terraform", help="terraform/tofu binary; default $CMLINFRA_TERRAFORM or PATH."
)
STATE = typer.Option(
    None, "--state", help="State backend: s3://BUCKET/PREFIX?region=R, or a local path."
)
HOST = typer.Option(None, "--host", help="ssh cloud: the existing machine's address.")
PORT = typer.Option(22, "--port", help="ssh cloud: SSH port.")
USER = typer.Option(None, "--user", help="ssh cloud: SSH user (default root).")
HOST_KEY = typer.Option(
    None, "--host-key", help="ssh cloud: the machine's public host key line, checked on connect."
)
KEY_FILE = typer.Option(
    None, "--ssh-key-file", help="Use this private key instead of generating one (ssh cloud)."
)
COMMENT = typer.Option(
    False,
    "--comment",
    help="Post the plan to the pull request of the current commit (else the commit) as a "
    "review comment, updating this stack's previous plan comment in place. The forge, "
    "repository and token come from the CI environment, like comment create.",
)
WATERMARK = typer.Option(
    "",
    "--watermark-title",
    help="Marker that identifies the plan comment to update; default 'cmlinfra plan NAME'. "
    "{name}, {workflow} and {run} are replaced.",
)
TARGET = typer.Option(
    None,
    "--target",
    help="With --comment: pr, commit, issue/N, pr/N or commit/SHA. Default: the pull request "
    "of the current commit, else the commit.",
)


@with_cloud_options()
def _run(
    ctx: typer.Context,
    name: str | None = NAME,
    cloud: str = CLOUD,
    cloud_type: str = TYPE,
    cloud_gpu: str | None = GPU,
    cloud_region: str | None = REGION,
    cloud_hdd_size: int | None = HDD,
    cloud_spot: str = SPOT,
    cloud_spot_price: str | None = SPOT_PRICE,
    cloud_image: str | None = IMAGE,
    cloud_permission_set: str | None = PERMISSION,
    cloud_metadata: list[str] = METADATA,
    ssh_cidr: str | None = SSH_CIDR,
    allow_world_ssh: bool = WORLD_SSH,
    max_ttl: str | None = MAX_TTL,
    terraform: str | None = TERRAFORM,
    state: str | None = STATE,
    host: str | None = HOST,
    port: int = PORT,
    user: str | None = USER,
    host_key: str | None = HOST_KEY,
    ssh_key_file: str | None = KEY_FILE,
    **cloud_options: str | None,  # every cloud's own options (with_cloud_options)
) -> None:
    options = {k: v for k, v in locals().items() if k not in ("ctx", "cloud_options")}
    _execute(ctx, str(ctx.info_name), {**options, **cloud_options}, None)


def _review_options(
    comment: bool = COMMENT,
    watermark_title: str = WATERMARK,
    target: str | None = TARGET,
    driver: str | None = driver_option(),
    repo: str | None = repo_option(),
    token: str | None = token_option(),
) -> None:
    """Holds the options only ``stack plan`` has (see ``_plan``'s signature below)."""


def _plan(ctx: typer.Context, **options: Any) -> None:
    review = {k: options.pop(k) for k in inspect.signature(_review_options).parameters}
    _execute(ctx, "plan", options, review if review["comment"] else None)


# ``stack plan`` takes every option of render/apply plus the review ones: one signature built
# from both, so the long machine option list is written once.
_plan.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        *inspect.signature(_run).parameters.values(),
        *inspect.signature(_review_options).parameters.values(),
    ]
)
_plan.__annotations__ = {**_run.__annotations__, **_review_options.__annotations__}


def _connect_review(name: str, review: dict[str, Any]) -> Any:
    """The forge and the comment's target, before terraform runs: a missing CI context or a
    rejected token fails fast, with nothing planned."""
    from cmlinfra.cli.forge_common import connect
    from cmlinfra.errors import UsageError
    from cmlinfra.forges.comments import expand_title
    from cmlinfra.stack import review as plan_review

    try:
        context, forge = connect(review["driver"], review["repo"], review["token"])
    except UsageError as exc:
        if exc.problem.startswith("cannot tell which forge"):
            raise plan_review.no_forge(exc) from None
        raise
    title = review["watermark_title"] or plan_review.DEFAULT_TITLE
    title = expand_title(
        title.replace("{name}", name), workflow=context.workflow, run=context.run_id
    )
    return plan_review.find_target(
        forge, target=review["target"], commit=context.commit, pr=context.pr, title=title
    )


def _execute(
    ctx: typer.Context, action: str, options: dict[str, Any], review: dict[str, Any] | None
) -> None:
    from cmlinfra.cli.clouds import cloud_option_values
    from cmlinfra.clouds.tags import ROLE_KEY, STACK_ROLE
    from cmlinfra.stack import candidates, failover, service
    from cmlinfra.stack.request import build_request, key_file
    from cmlinfra.ui import emit

    o = options
    request = build_request(
        name=o["name"],
        cloud_type=o["cloud_type"],
        gpu=o["cloud_gpu"],
        region=o["cloud_region"],
        hdd_size=o["cloud_hdd_size"],
        spot=any(candidates.spot_choices(o["cloud_spot"] or "")),
        spot_price=o["cloud_spot_price"],
        image=o["cloud_image"],
        permission_set=o["cloud_permission_set"],
        metadata=[*(o["cloud_metadata"] or []), f"{ROLE_KEY}={STACK_ROLE}"],  # gc: no record
        ssh_cidr=o["ssh_cidr"],
        allow_world_ssh=o["allow_world_ssh"],
        max_ttl=o["max_ttl"],
        host=o["host"],
        port=o["port"],
        user=o["user"],
        host_key=o["host_key"],
        options=cloud_option_values(o),
    )
    identity = key_file(o["ssh_key_file"])
    where = _connect_review(request.name, review) if review else None
    cloud = o["cloud"]
    found = candidates.build(request, cloud, o["cloud_spot"] or "")
    machines = failover.plan(cloud, request, found, terraform=o["terraform"], state=o["state"])
    prepared = machines.lookup()  # every candidate checked, the cheapest first; none created
    as_json = settings(ctx).as_json
    named = cloud if machines.single else prepared.cloud.name  # as given, for one candidate
    result: dict[str, Any] = {"name": request.name, "cloud": named}
    if action == "render":
        path = service.render(prepared, ssh_key_file=identity)
        result["file"] = str(path)
        emit(result, as_json=as_json, text=path.read_text())
    elif action == "plan":
        planned = service.plan(prepared, ssh_key_file=identity)
        price = planned.machine.hourly_price
        result.update(plan=planned.summary.to_dict(), hourly_price=price)
        cost = "unknown" if price is None else f"${price:.4f}/hour"
        text = f"{planned.summary.headline()}\nestimated cost: {cost}"
        if where is not None:
            from cmlinfra.stack import review as plan_review

            posted = plan_review.post(where, prepared, planned)
            result["comment"] = {
                "url": posted.comment.url,
                "id": posted.comment.id,
                "target": str(posted.target),
                "updated": posted.updated,
            }
            verb = "updated" if posted.updated else "posted"
            text += f"\nplan comment {verb}: {posted.comment.url or posted.target}"
        emit(result, as_json=as_json, text=text)
    else:
        try:
            address = machines.run(lambda chosen: service.apply(chosen, ssh_key_file=identity))
        finally:  # the attempts, said per line already, are kept with the stack
            _remember(machines)
        chosen = machines.chosen.prepared if machines.chosen else prepared
        machine = chosen.machine
        result.update(
            address=address,
            stack_dir=str(chosen.stack.root),
            cloud=named if machines.single else chosen.cloud.name,
            machine={
                "cloud": machine.cloud,
                "region": machine.region,
                "type": machine.instance_type,
                "spot": machine.request.spot,
                "hourly_price": machine.hourly_price,
            },
            attempts=[a.to_dict() for a in machines.attempts],
        )
        emit(
            result,
            as_json=as_json,
            text=f"{request.name}: {address.user}@{address.host}:{address.port} "
            f"({address.instance_id})",
        )


def _remember(machines: Any) -> None:
    """The attempts in the applied stack's metadata (``stack show``)."""
    chosen = machines.chosen
    if chosen is None or not chosen.prepared.stack.exists():
        return
    target = chosen.prepared.stack
    attempts = [a.to_dict() for a in machines.attempts]
    target.write_metadata({**target.read_metadata(), "attempts": attempts})


@app.command("destroy")
def destroy(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="The stack to destroy."),
    terraform: str | None = TERRAFORM,
) -> None:
    """Destroy the stack's machine and remove its directory and key pair."""
    from cmlinfra.stack import service
    from cmlinfra.ui import emit

    result = service.destroy(name, terraform=terraform)
    text = (
        f"{name}: destroyed"
        if result["applied"]
        else f"{name}: never applied, nothing to destroy; removed its directory"
    )
    emit(result, as_json=settings(ctx).as_json, text=text)


@app.command("show")
def show(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="A stack; without it, list them all."),
) -> None:
    """Show a stack's metadata (cloud, machine, address, expiry), or list the stacks."""
    import json

    from cmlinfra.stack import service
    from cmlinfra.ui import emit

    result = service.show(name)
    text = "\n".join(result["stacks"]) if name is None else json.dumps(result, indent=2)
    emit(result, as_json=settings(ctx).as_json, text=text)


app.command("render", help="Write the stack's Terraform configuration and print it.")(_run)
app.command(
    "plan",
    help="Plan the stack: what would be created, and its hourly cost. With --comment, post the "
    "plan to the pull request for review (one comment, updated on every run).",
)(_plan)
app.command("apply", help="Create (or update) the machine and print how to reach it.")(_run)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="stack")
