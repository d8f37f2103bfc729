"""The LXD inventory: containers carrying ``user.cmlinfra.stack`` in every project (the lxd
cloud's regions), through the ``lxc`` client (what ``gc`` compares with the registry, what a
failover checks after a refused apply, and the fast way to delete a runner's container)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from cmlinfra.clouds.base import Machine
from cmlinfra.clouds.lxd.projects import DEFAULT_PROJECT, project, region_of
from cmlinfra.clouds.lxd.tags import EXPIRES_KEY, ROLE_CONFIG_KEY, STACK_KEY
from cmlinfra.clouds.tags import parse_expiry
from cmlinfra.errors import CmlinfraError


@dataclass
class LxdInventory:
    """LXD containers carrying ``user.cmlinfra.stack``, through the ``lxc`` client."""

    cloud: str = "lxd"
    remote: str = ""  # "" for the local daemon, else "name:" of an lxc remote

    def _lxc(self, *args: str) -> str:
        try:
            result = subprocess.run(
                ["lxc", *args], capture_output=True, text=True, timeout=120, check=False
            )
        except FileNotFoundError:
            raise CmlinfraError("the lxc client is not installed", "install LXD") from None
        if result.returncode != 0:
            raise CmlinfraError(
                f"lxc {args[0]} failed: {result.stderr.strip()[-300:]}",
                "check that LXD is running (scripts/localcloud.sh status)",
            )
        return result.stdout

    def machines(self) -> list[Machine]:
        args = ("list", self.remote, "--all-projects", "--format", "json")
        listing = json.loads(self._lxc(*args) or "[]")
        found = []
        for item in listing:
            config = item.get("config", {})
            if STACK_KEY not in config:
                continue
            found.append(
                Machine(
                    cloud="lxd",
                    id=item["name"],
                    stack=config[STACK_KEY],
                    region=region_of(str(item.get("project") or DEFAULT_PROJECT)),
                    state=str(item.get("status", "")).lower(),
                    expires=parse_expiry(config.get(EXPIRES_KEY)),
                    role=config.get(ROLE_CONFIG_KEY, ""),
                )
            )
        return found

    def delete(self, machine: Machine) -> None:
        try:
            where = ("--project", project(machine.region))
            self._lxc("delete", "--force", *where, f"{self.remote}{machine.id}")
        except CmlinfraError as exc:
            if "not found" not in exc.problem.lower():  # an ephemeral one that just went
                raise
