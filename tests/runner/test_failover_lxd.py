"""Failover at launch on the real local cloud: three LXD projects of this module's own stand
in for three zones. The first allows no instance at all (``limits.instances=0``), the second
not the CPUs a runner asks for (``limits.cpu=1``): LXD refuses both with its own quota errors,
through the real terraform-lxd provider, and the launch lands on the third. Nothing may be left
in the full ones, and the record, ``runner list`` and ``--json`` say where it landed."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmlinfra.runner.store import open_store
from tests.runner.conftest import lxc

pytestmark = pytest.mark.lxd


@dataclass(frozen=True)
class Zones:
    full: str  # limits.instances=0
    small: str  # limits.cpu=1: a runner (2 CPUs) does not fit
    free: str

    @property
    def region(self) -> str:
        return f"{self.full},{self.small},{self.free}"

    def instances(self) -> dict[str, list[str]]:
        """Every instance in each of the three projects."""
        found = {}
        for project in (self.full, self.small, self.free):
            listing = json.loads(lxc("list", "--project", project, "--format", "json"))
            found[project] = sorted(item["name"] for item in listing)
        return found


@pytest.fixture(scope="module")
def zones(lxd) -> Iterator[Zones]:  # type: ignore[no-untyped-def]
    """Three projects with unique names (the daemon is shared), sharing the default project's
    images and profiles; deleted with whatever is in them at the end."""
    tag = f"fo{secrets.token_hex(3)}"
    made = Zones(f"{tag}-full", f"{tag}-small", f"{tag}-free")
    limits = {made.full: ["limits.instances=0"], made.small: ["limits.cpu=1"], made.free: []}
    try:
        for project, extra in limits.items():
            config = ["features.images=false", "features.profiles=false", *extra]
            lxc("project", "create", project, *(a for c in config for a in ("-c", c)))
        yield made
    finally:
        for project in limits:
            listing = subprocess.run(
                ["lxc", "list", "--project", project, "--format", "csv", "-c", "n"],
                capture_output=True,
                text=True,
                check=False,
            )
            for name in listing.stdout.split():
                lxc("delete", "--force", "--project", project, name, check=False)
            lxc("project", "delete", project, check=False)


def _landed(attempts: list[dict], zones: Zones) -> None:  # type: ignore[type-arg]
    assert [(a["region"], a["outcome"]) for a in attempts] == [
        (zones.full, "quota"),
        (zones.small, "quota"),
        (zones.free, "launched"),
    ]
    assert 'Reached maximum number of instances in project "' in attempts[0]["error"]
    assert 'Reached maximum aggregate value "1" for "limits.cpu"' in attempts[1]["error"]


def test_exec_lands_on_the_third_project(lifecycle, cli, zones: Zones, tmp_path: Path) -> None:
    lc = lifecycle
    name = f"{lc.prefix}x"
    work = tmp_path / "work"
    work.mkdir()
    args = ["--json", "exec", "--cloud", "lxd", "--name", name, "--state", lc.state]
    result = cli(*args, "--cloud-region", zones.region, "--", "hostname", env=lc.env(), cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    _landed(summary["attempts"], zones)
    assert summary["machine"]["region"] == zones.free and summary["machine"]["cloud"] == "lxd"
    said = result.stderr.splitlines()
    assert any(
        line.startswith(f"{zones.full} m: Reached maximum number of instances in project ")
        and line.endswith(f"→ trying {zones.small} m …")
        for line in said
    )
    assert any(line.endswith(f"→ trying {zones.free} m …") for line in said)
    assert any(
        f"exec {name}: exit 0 on lxd {zones.free} m, $0/h, after 2 refused candidates" in line
        for line in said
    )
    assert name in result.stderr  # the command's output: the container's hostname
    assert zones.instances() == {zones.full: [], zones.small: [], zones.free: []}
    assert open_store(lc.state).names() == []


def test_runner_launch_lands_on_the_third_and_says_so(lifecycle, cli, zones: Zones) -> None:
    lc = lifecycle
    name = f"{lc.prefix}r"
    args = lc.launch_args(name, "--single", "--cloud-region", zones.region)
    result = cli(*args, env=lc.env())
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout)
    assert record["phase"] == "ready" and record["region"] == zones.free
    _landed(record["attempts"], zones)
    assert zones.instances() == {zones.full: [], zones.small: [], zones.free: [name]}
    listed = cli("--json", "runner", "list", "--state", lc.state, env=lc.env())
    (row,) = json.loads(listed.stdout)["runners"]
    assert row["region"] == zones.free and len(row["attempts"]) == 3
    table = cli("runner", "list", "--state", lc.state, env=lc.env()).stdout.splitlines()
    assert table[1].split()[:3] == [name, "lxd", zones.free] and table[1].endswith(" 3")
    done = cli("runner", "destroy", name, "--state", lc.state, *lc.forge_args(), env=lc.env())
    assert done.returncode == 0, done.stderr[-2000:]
    assert zones.instances() == {zones.full: [], zones.small: [], zones.free: []}
    assert lc.runners() == []


def test_stack_apply_on_both_terraform_versions(
    lxd, cli, zones: Zones, cmlinfra_home: Path, terraform_binary
) -> None:  # type: ignore[no-untyped-def]
    """The provider's config_dir remote carries the project on Terraform 1.0 as on 1.11;
    ``stack destroy`` finds the container in its project again."""
    name = lxd.name(f"fo{terraform_binary.version.replace('.', '')}")
    terraform = ["--terraform", str(terraform_binary.path)]
    args = ["--json", "stack", "apply", "--name", name, "--cloud-region", zones.region]
    applied = cli(*args, *terraform)
    assert applied.returncode == 0, applied.stderr[-3000:]
    _landed(json.loads(applied.stdout)["attempts"], zones)
    assert zones.instances()[zones.free] == [name]
    destroyed = cli("stack", "destroy", "--name", name, *terraform)
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    assert zones.instances() == {zones.full: [], zones.small: [], zones.free: []}
