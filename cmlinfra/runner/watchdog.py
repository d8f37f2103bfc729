"""The on-node watchdog: the second teardown layer, which works when the launcher is gone.

The launcher (first layer) destroys what it created when it can, but a CI job can be cancelled,
killed or lose its state at any moment. So every machine carries its own end: a systemd timer
that follows the runner agent's job hooks and, when the machine is idle, has finished its single
job, or has reached its maximum lifetime, unregisters the runner with the short-lived material
already on the machine and ends the machine the way its cloud says (``Capabilities.
watchdog_end``): a power-off that deletes it on LXD (ephemeral) and AWS (terminate-on-shutdown),
nothing on someone's own machine. The sweeper (``cmlinfra gc``) is the third layer.

Everything is rendered here into one self-contained ``install.sh`` that is run as root through
SSH's standard input, so nothing secret ever appears in a command line or in user-data.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

from cmlinfra.clouds.base import POWER_OFF
from cmlinfra.errors import UsageError

LIB = "/usr/local/lib/cmlinfra"
STATE = "/var/lib/cmlinfra"
HOOK_STARTED = f"{LIB}/job-started.sh"
HOOK_COMPLETED = f"{LIB}/job-completed.sh"

_UNITS = {
    **dict.fromkeys(("", "s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_DURATION = re.compile(r"\s*(\d{1,12})\s*([a-z]*)\s*")
MAX_INTERVAL = 3600  # seconds between checks: more would let a machine outlive its limits


def parse_duration(text: str | int, option: str) -> int:
    """Seconds from CML-style durations: ``300``, ``30s``, ``5min``, ``2h``, ``1d``; ``never``
    and ``0`` mean disabled (0), and so does CML's older ``-1``."""
    from cmlinfra.clouds.validate import duration

    if isinstance(text, int):
        return duration(max(text, 0), option)
    value = text.strip().lower()
    if value in {"never", "0", "", "none", "-1"}:
        return 0
    match = _DURATION.fullmatch(value)
    if not match or match.group(2) not in _UNITS:
        raise UsageError(
            f"{option} {text!r} is not a duration", f"write it as {option} 300, 5min, 2h or never"
        )
    return duration(int(match.group(1)) * _UNITS[match.group(2)], option)


@dataclass(frozen=True)
class WatchdogPolicy:
    """When a machine must go and how it unregisters. Durations in seconds; 0 disables."""

    idle_timeout: int = 300
    max_ttl: int = 0
    single: bool = False
    interval: int = 15  # how often the timer checks
    agent_unit: str = ""  # systemd unit of the runner agent, stopped before unregistering
    agent_user: str = "root"  # the user the agent (and so its job hooks) runs as
    busy_probe: str = ""  # shell command that succeeds while a job runs (agents without hooks)
    unregister: str = ""  # script run as root before the end; reads root-only secret files
    # how the machine ends (the cloud's Capabilities.watchdog_end): power off by default; ""
    # leaves it running (someone's own machine) and only disables the watchdog
    end_script: str = POWER_OFF
    # files and directories removed at teardown, once the agent (and so its job) has stopped:
    # credentials that must not outlive the runner (runner launch --dvc), above all where the
    # machine itself stays up (end_script "")
    forget: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from cmlinfra.clouds.validate import duration

        if not 1 <= self.interval <= MAX_INTERVAL:
            raise UsageError(
                f"the watchdog interval of {self.interval} s is not from 1 s to 1 h",
                "pass a value from 1 to 3600",
            )
        # the script compares these in bash arithmetic: bounded, they never overflow it
        duration(self.idle_timeout, "--idle-timeout")
        duration(self.max_ttl, "--max-ttl")
        if self.idle_timeout < 0 or self.max_ttl < 0:
            raise UsageError("a watchdog duration cannot be negative", "give 0 for never")
        for path in self.forget:
            if not path.startswith("/") or path == "/" or any(c in path for c in "\n\r\0"):
                raise ValueError(f"the watchdog cannot forget {path!r}: not an absolute path")
        if self.unregister and not self.unregister.startswith("#!"):
            raise ValueError("the unregister script needs a #! line")


@cache
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cmlinfra.runner", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # shell and systemd text, never HTML
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    return env


def render_template(template: str, **values: object) -> str:
    return str(_env().get_template(template).render(**values))


def render_scripts(policy: WatchdogPolicy) -> dict[str, tuple[str, str]]:
    """Files installed in ``LIB``: name -> (octal mode, text)."""
    files = {
        "watchdog": (
            "0755",
            render_template(
                "watchdog.sh.j2",
                idle_timeout=policy.idle_timeout,
                max_ttl=policy.max_ttl,
                single=policy.single,
                interval=policy.interval,
                agent_unit=policy.agent_unit,
                busy_probe=policy.busy_probe,
                end_script=policy.end_script.strip(),
                forget=policy.forget,
            ),
        ),
        "job-started.sh": ("0755", render_template("hook.sh.j2", event="started")),
        "job-completed.sh": ("0755", render_template("hook.sh.j2", event="completed")),
    }
    if policy.unregister:
        files["unregister"] = ("0700", policy.unregister.rstrip("\n") + "\n")
    return files


def render_units(policy: WatchdogPolicy) -> dict[str, str]:
    """The systemd service and timer: name -> text."""
    return {
        "cmlinfra-watchdog.service": render_template("cmlinfra-watchdog.service.j2", lib=LIB),
        "cmlinfra-watchdog.timer": render_template(
            "cmlinfra-watchdog.timer.j2", interval=policy.interval
        ),
    }


def render_install(policy: WatchdogPolicy) -> str:
    """One root shell script that installs and arms everything; feed it to ``bash -s``."""
    files = {
        name: (mode, text.rstrip("\n")) for name, (mode, text) in render_scripts(policy).items()
    }
    units = {name: text.rstrip("\n") for name, text in render_units(policy).items()}
    for text in [t for _, t in files.values()] + list(units.values()):
        if "\nCMLINFRA_EOF\n" in f"\n{text}\n":
            raise ValueError("a rendered file contains the heredoc delimiter")
    return render_template(
        "install.sh.j2", lib=LIB, agent_user=policy.agent_user, files=files, units=units
    )


def parse_status(text: str) -> dict[str, str]:
    """``watchdog status`` output (key=value lines) as a dict."""
    pairs = (line.partition("=") for line in text.splitlines())
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}
