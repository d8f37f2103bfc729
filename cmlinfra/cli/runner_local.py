"""``runner launch`` without ``--cloud``: the CLI side of cmlinfra/runner/local.py (this
machine becomes the runner, as CML's on-premise runner). Stdlib only at import time."""

from __future__ import annotations

from typing import Any

# option → its value when not given; given without --cloud: a warning (so is any of the
# clouds' own options, in values["cloud_options"], None when not given)
CLOUD_ONLY: dict[str, object] = {
    "cloud_type": "m", "cloud_gpu": "", "cloud_region": "", "cloud_hdd_size": None,
    "cloud_spot": "", "cloud_spot_price": "", "cloud_image": "", "cloud_permission_set": "",
    "cloud_metadata": [], "ssh_cidr": None, "state": "", "terraform": "",
    "cloud_startup_script": "",
}  # fmt: skip


def launch_here(values: dict[str, Any]) -> dict[str, Any]:
    """``runner launch`` without ``--cloud``: this machine is the runner (runner/local.py)."""
    from cmlinfra.cli.cml import warn
    from cmlinfra.runner.local import LocalOptions, run_local
    from cmlinfra.runner.watchdog import parse_duration
    from cmlinfra.stack.request import default_name
    from cmlinfra.stack.request import parse_duration as parse_ttl

    given = [k for k, default in CLOUD_ONLY.items() if values[k] not in (default, None)]
    given += [k for k, value in (values.get("cloud_options") or {}).items() if value]
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        warn(f"{names} ignored: without --cloud this machine is the runner")
    labels = [label.strip() for label in str(values["labels"]).split(",") if label.strip()]
    steps = str(values["bootstrap"])
    return run_local(
        LocalOptions(
            name=str(values["name"]) or default_name(),
            labels=labels,
            idle_timeout=parse_duration(str(values["idle_timeout"]), "--idle-timeout"),
            single=bool(values["single"]),
            max_ttl=parse_ttl(str(values["max_ttl"]) or None) or 0,
            driver=values["driver"] or None,
            repo=values["repo"] or None,
            token=values["token"] or None,
            runner_group=str(values["runner_group"]),
            reuse=bool(values["reuse"]),
            reuse_idle=bool(values["reuse_idle"]),
            no_retry=bool(values["no_retry"]),
            bootstrap_steps=tuple(s.strip() for s in steps.split(",") if s.strip()),
            interval=int(values["watchdog_interval"]),
        )
    )
