"""``cmlinfra bootstrap HOST...``: prepare existing machines over SSH (GPU driver, Docker, NVIDIA
container toolkit, CI runner agent), and ``cmlinfra bootstrap render`` for image builders.

Only typer and the standard library are imported here; the SSH and template code loads when the
command runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from cmlinfra.cli.common import settings

HELP = """Bootstrap machines over SSH: NVIDIA driver, Docker, NVIDIA container toolkit, a final
`docker run --gpus all ... nvidia-smi`, and optionally a CI runner agent (installed, not
registered). Every step checks its own result first, so running it again resumes or does
nothing. The host key is always verified (--known-hosts or --host-key-fingerprint).

`cmlinfra bootstrap render --out DIR` writes the same scripts to DIR instead (for Packer)."""

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_HOST = re.compile(
    r"(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[^\]\s]+)\]|(?P<host>[^:\s]+))(?::(?P<port>\d{1,5}))?"
)


def parse_host(text: str, user: str, port: int) -> tuple[str, str, int]:
    """``[user@]host[:port]`` (``[v6addr]:port`` too) → (user, host, port)."""
    from cmlinfra.errors import UsageError

    match = _HOST.fullmatch(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a host", "write it as [user@]host[:port]")
    host = match.group("v6") or match.group("host")
    return match.group("user") or user, host, int(match.group("port") or port)


def _summary_text(results: list[Any], step_names: list[str]) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title="bootstrap", title_justify="left")
    for column in ["host", "result", "total", *step_names]:
        table.add_column(column, justify="right" if column == "total" else "left")
    for host in results:
        cells = []
        by_name = {s.name: s for s in host.steps}
        for name in step_names:
            step = by_name.get(name)
            if step is None or step.status == "not run":
                cells.append("-")
            else:
                label = {"done": "done", "skipped": "skip", "failed": "FAILED"}[step.status]
                cells.append(f"{label} {step.seconds:.1f}s")
        result = "ok" if host.ok else "FAILED"
        table.add_row(host.name, result, f"{host.seconds:.1f}s", *cells)
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(table)
    return buffer.getvalue()


def _default_identity() -> bool:
    """Whether ssh would find a key without -i: an agent, or one of OpenSSH's default files."""
    import os

    if os.environ.get("SSH_AUTH_SOCK") and Path(os.environ["SSH_AUTH_SOCK"]).exists():
        return True
    names = ("id_rsa", "id_ecdsa", "id_ed25519", "id_dsa")
    return any((Path.home() / ".ssh" / n).is_file() for n in names)


def bootstrap(
    ctx: typer.Context,
    hosts: list[str] = typer.Argument(
        ..., metavar="HOST... | render", help="[user@]host[:port] of each machine, or `render`."
    ),
    user: str = typer.Option(
        "root", "--user", help="SSH user (non-root users need NOPASSWD sudo)."
    ),
    port: int = typer.Option(22, "--port", help="SSH port."),
    key: Path | None = typer.Option(
        None,
        "--key",
        help="Private key that logs in to the hosts. Default, as ssh: the SSH agent, then "
        "~/.ssh/id_rsa, id_ecdsa, id_ed25519.",
    ),
    host_key_fingerprint: list[str] = typer.Option(
        [], "--host-key-fingerprint", help="Expected SHA256:... host key fingerprint (repeatable)."
    ),
    known_hosts: Path = typer.Option(
        DEFAULT_KNOWN_HOSTS,
        "--known-hosts",
        help="known_hosts file with the hosts' keys (used with, or instead of, fingerprints).",
    ),
    steps: str = typer.Option(
        "", "--steps", help="Comma-separated steps to run (default: all that apply)."
    ),
    skip_gpu: bool = typer.Option(False, "--skip-gpu", help="No NVIDIA driver/toolkit/check."),
    runner_agent: str = typer.Option(
        "none",
        "--runner-agent",
        help="CI runner agent to install: github, gitlab, bitbucket, none.",
    ),
    timeout: float = typer.Option(1800, "--timeout", help="Seconds each step may take."),
    wait: float = typer.Option(300, "--wait", help="Seconds to wait for SSH to answer."),
    parallel: int = typer.Option(8, "--parallel", help="Hosts bootstrapped at the same time."),
    out: Path | None = typer.Option(None, "--out", help="render: where to write the scripts."),
) -> None:
    from cmlinfra.bootstrap.steps import Options, build_steps, write_scripts
    from cmlinfra.errors import CmlinfraError, UsageError
    from cmlinfra.ui import emit

    as_json = settings(ctx).as_json
    options = Options(gpu=not skip_gpu, runner_agent=runner_agent)
    only = [s.strip() for s in steps.split(",") if s.strip()]
    plan = build_steps(options, only or None)

    if hosts == ["render"]:
        if out is None:
            raise UsageError("bootstrap render needs --out", "pass --out DIR")
        paths = write_scripts(plan, out)
        emit([str(p) for p in paths], as_json=as_json, text="\n".join(map(str, paths)))
        return
    if out is not None:
        raise UsageError("--out is only for `bootstrap render`", "drop --out")
    if key is None and not _default_identity():
        raise UsageError(
            "no SSH key given, no SSH agent (SSH_AUTH_SOCK) and no ~/.ssh/id_* key",
            "pass --key PATH (the key that logs in to the hosts)",
        )

    from cmlinfra.bootstrap.run import bootstrap_hosts
    from cmlinfra.bootstrap.ssh import SshTarget

    known = known_hosts.expanduser()
    if known_hosts != DEFAULT_KNOWN_HOSTS and not known.exists():
        raise UsageError(f"--known-hosts {known_hosts} does not exist", "pass an existing file")
    targets = []
    for text in hosts:
        login, host, host_port = parse_host(text, user, port)
        targets.append(
            SshTarget(
                host=host,
                port=host_port,
                user=login,
                key=key.expanduser() if key is not None else None,
                fingerprints=tuple(host_key_fingerprint),
                known_hosts=known if known.exists() else None,
                name=text,
            )
        )
    for target in targets:
        target.expected().allowed()  # bad fingerprints fail before any connection
    results = bootstrap_hosts(targets, plan, wait=wait, timeout=timeout, parallel=parallel)
    names = [s.name for s in plan]
    emit(results, as_json=as_json, text=_summary_text(results, names))
    failed = [r for r in results if not r.ok]
    if failed:
        import sys

        for failure in failed:
            if failure.tail:
                print(f"--- last lines from {failure.name} ---", file=sys.stderr)
                print("\n".join(failure.tail[-15:]), file=sys.stderr)
        if len(results) == 1:
            raise CmlinfraError(failed[0].error or "bootstrap failed")
        raise CmlinfraError(
            f"{len(failed)} of {len(results)} hosts failed: "
            + "; ".join(f"{r.name}: {r.error}" for r in failed),
            "fix the cause and re-run; finished steps are skipped",
        )


def register(root: typer.Typer) -> None:
    root.command("bootstrap", help=HELP)(bootstrap)
