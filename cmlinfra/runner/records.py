"""What the registry remembers about each launched runner, and who holds its lock.

A record is written before anything is created and deleted only after everything is gone, so a
record with no machine and a machine with no record are both findable by ``cmlinfra gc``. No
secret ever goes into a record: it is plain JSON in a shared bucket or directory.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict
from urllib.parse import urlsplit

PHASES = ("launching", "ready", "destroying", "failed")


@dataclass
class RunnerRecord:
    """One runner (or exec machine): enough for ``runner list`` and for a later teardown."""

    name: str
    cloud: str
    instance_type: str = ""
    region: str = ""
    labels: list[str] = field(default_factory=list)
    mode: str = "runner"  # runner | exec
    phase: str = "launching"
    created: float = field(default_factory=time.time)
    expires: float | None = None  # epoch of the max-TTL power-off; None: no hard limit
    idle_timeout: int = 0  # seconds; 0: never
    single: bool = False
    hourly_price: float | None = None  # USD; None when the cloud has no price (lxd, ssh)
    last_activity: float | None = None  # newest job event the launcher saw
    instance_id: str = ""
    host: str = ""
    forge: str = ""  # github | gitlab | bitbucket ("" for exec)
    repo: str = ""  # the URL it is registered at: a repository, or an organization/group/…
    # the forge's web and API base it was launched through ("" in records of before): a GitLab
    # served under a relative URL has https://host/gitlab, and ``repo`` lies below it
    web_url: str = ""
    api_url: str = ""
    scope: str = ""  # repository | organization | group | workspace ("" for exec)
    runner_id: str = ""  # the forge's id, for unregistering from outside the machine
    launcher: str = ""  # host:pid of the process that created it
    error: str = ""  # why the last launch/destroy failed, one line
    # CML's --no-retry: a job lost with this runner (a spot reclaim) is not re-run (failover)
    no_retry: bool = False
    spot: bool = False  # a spot / preemptible machine
    # gc looked up (and re-ran) the jobs this runner lost when its spot machine vanished: a
    # second gc after a failed teardown must not re-run them again; ``reran``: their job ids
    rerun_done: bool = False
    reran: list[str] = field(default_factory=list)
    # when gc first found a job of it still running at the forge (which had not noticed the
    # machine is gone): gc waits for the job to end, up to rerun.WAIT_LIMIT from then
    rerun_waiting_since: float | None = None
    # the CI job that ran ``runner launch`` (cmlinfra.runner.rerun.launcher_job): run, runner,
    # name (GitHub) or run, job (GitLab); {} outside CI
    launched_by: dict[str, str] = field(default_factory=dict)
    # every candidate the launch tried or set aside, in order (stack.failover.Attempt.to_dict):
    # cloud, region, type, spot, price, outcome, error, seconds, tries; [] before the apply
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunnerRecord:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def repo_path(self) -> str:
        """The repository as its forge names it (GitHub ``owner/name``, GitLab
        ``path_with_namespace``, which ``CI_PROJECT_PATH`` says): ``repo``'s path below
        ``web_url``. A record without ``web_url`` (written before it was kept): the URL's
        whole path."""
        path = urlsplit(self.repo).path.strip("/").removesuffix(".git")
        root = urlsplit(self.web_url).path.strip("/")
        if root and self.repo.startswith(self.web_url.rstrip("/") + "/"):
            return path[len(root) + 1 :]
        return path

    def age(self, now: float | None = None) -> float:
        return max((now or time.time()) - self.created, 0.0)

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and (now or time.time()) >= self.expires

    def machine(self) -> dict[str, Any]:
        """Where it runs: the candidate the launch landed on."""
        return {
            "cloud": self.cloud,
            "region": self.region,
            "type": self.instance_type,
            "spot": self.spot,
            "hourly_price": self.hourly_price,
        }

    def where(self) -> str:
        return where(self.machine(), self.attempts)

    def cost_so_far(self, now: float | None = None) -> float | None:
        """Estimated USD spent: hourly price x age (billing granularity ignored)."""
        if self.hourly_price is None:
            return None
        return round(self.hourly_price * self.age(now) / 3600, 4)


class Registration(TypedDict, total=False):
    repo: str
    scope: str
    web_url: str
    api_url: str


def registered_at(context: Any) -> Registration:
    """A record's fields that say where its runner is registered, from the launch's forge
    context (a ``cmlinfra.forges.context.ForgeContext``; None: registered nowhere, exec)."""
    if context is None:
        return {}
    return {
        "repo": context.repo_url,
        "scope": context.scope,
        "web_url": context.web_url,
        "api_url": context.api_url,
    }


def where(machine: dict[str, Any], attempts: list[dict[str, Any]]) -> str:
    """``lxd fo-c m, $0/h, after 2 refused candidates``: a summary line's machine."""
    if not machine.get("cloud"):
        return ""
    price = machine.get("hourly_price")
    text = " ".join(
        str(w) for w in (machine["cloud"], machine.get("region"), machine.get("type")) if w
    )
    text += " spot" if machine.get("spot") else ""
    text += "" if price is None else f", ${price:.4g}/h"
    refused = sum(a.get("outcome") != "launched" for a in attempts)
    return text + (f", after {refused} refused candidate{'s' * (refused != 1)}" if refused else "")


def this_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LockInfo:
    """A launcher's claim on one runner name while it creates or destroys it."""

    name: str
    holder: str  # host:pid
    operation: str
    since: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, name: str, text: str) -> LockInfo:
        data: dict[str, Any] = json.loads(text) if text.strip() else {}
        return cls(
            name=name,
            holder=str(data.get("holder", "?:0")),
            operation=str(data.get("operation", "?")),
            since=float(data.get("since", 0.0)),
        )

    def stale(self, max_age: float, now: float | None = None) -> str:
        """Why this lock is abandoned ('' when it may still be held): its holder process is
        gone from this host, or it is older than ``max_age`` seconds."""
        host, _, pid = self.holder.rpartition(":")
        if (
            host == socket.gethostname()
            and pid.isascii()
            and pid.isdigit()
            and not _alive(int(pid))
        ):
            return f"holder {self.holder} is no longer running"
        age = (now or time.time()) - self.since
        if age > max_age:
            return f"held for {age / 60:.0f} min by {self.holder}"
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped) holds nothing any more.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True
