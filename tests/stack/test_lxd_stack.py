"""``cmlinfra stack`` on the real local cloud: real terraform (both versions), real LXD
containers, real sshd. Containers: one per terraform version, one for the max-TTL, one for the
failed-apply cleanup."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import paramiko
import pytest

from cmlinfra.clouds.base import MachineAddress, MachineRequest
from cmlinfra.clouds.lxd.api import LxdApi
from cmlinfra.clouds.lxd.cloud import LxdCloud
from cmlinfra.errors import CmlinfraError
from cmlinfra.stack import service
from tests.fixtures.lxd import LocalCloud

pytestmark = pytest.mark.lxd


def _ssh(address: dict[str, Any], key_file: Path, host_key: str) -> paramiko.SSHClient:
    """Connect with the stack's key, accepting only ``host_key`` for the host."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key_type, blob = host_key.split()[:2]
    client.get_host_keys().add(
        address["host"], key_type, paramiko.Ed25519Key(data=base64.b64decode(blob))
    )
    client.connect(
        address["host"],
        port=address["port"],
        username=address["user"],
        pkey=paramiko.Ed25519Key.from_private_key_file(str(key_file)),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    return client


def _ssh_when_up(lxd: LocalCloud, address: dict[str, Any], key_file: Path) -> paramiko.SSHClient:
    """sshd starts a moment after the host key exists: retry until it answers."""
    clients: list[paramiko.SSHClient] = []

    def attempt() -> bool:
        try:
            clients.append(_ssh(address, key_file, address["host_keys"][0]))
            return True
        except (OSError, paramiko.SSHException, EOFError):
            return False

    lxd.wait_until(attempt, timeout=60, what=f"sshd on {address['host']}")
    return clients[0]


def test_apply_ssh_destroy(
    lxd: LocalCloud, cli, cmlinfra_home: Path, terraform_binary, tmp_path: Path
) -> None:
    name = lxd.name(f"e2e-{terraform_binary.version.replace('.', '')}")
    terraform = ["--terraform", str(terraform_binary.path)]
    trace = tmp_path / "trace.jsonl"
    result = cli(
        "--json", "stack", "apply", "--cloud", "lxd", "--name", name, *terraform,
        "--cloud-metadata", "team=ml", "--max-ttl", "1h", env={"CMLINFRA_TRACE": str(trace)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # a new stack: one terraform run plans and applies (no plan file, show, state pull, output)
    spans = [json.loads(line)["span"] for line in trace.read_text().splitlines()]
    assert [s for s in spans if s.startswith("terraform ")] == ["terraform init", "terraform apply"]
    assert "Plan: 2 to add" in result.stderr  # the plan is still shown before the apply
    address = json.loads(result.stdout)["address"]
    assert address["instance_id"] == name and address["user"] == "root"
    assert address["host"].startswith("10.77.91.")

    config = (LxdApi().instance(name) or {})["config"]
    assert config["user.team"] == "ml"
    assert config["user.cmlinfra.stack"] == name
    assert config["user.cmlinfra.max-ttl"] == "3600"
    assert config["security.nesting"] == "true"
    assert config["limits.cpu"] == "2" and config["limits.memory"] == "4GiB"

    key_file = cmlinfra_home / "stacks" / name / "id_ed25519"
    private = key_file.read_text()
    assert private not in result.stdout + result.stderr
    client = _ssh_when_up(lxd, address, key_file)
    with client:
        _, out, _ = client.exec_command("id -un; systemctl is-active cmlinfra-max-ttl")
        assert out.read().decode().split() == ["root", "active"]
    # the host key is checked: a different expected key is refused
    other = paramiko.Ed25519Key.from_private_key_file(str(key_file)).get_base64()
    with pytest.raises(paramiko.BadHostKeyException):
        _ssh(address, key_file, f"ssh-ed25519 {other}")

    result = cli("stack", "destroy", "--name", name, *terraform)
    assert result.returncode == 0, result.stderr
    assert not lxd.exists(name)
    assert not (cmlinfra_home / "stacks" / name).exists()


def test_max_ttl_powers_off_and_deletes(lxd: LocalCloud, cli, cmlinfra_home: Path) -> None:
    name = lxd.name("ttl")
    result = cli("stack", "apply", "--name", name, "--max-ttl", "30s")  # outlives a slow apply
    assert result.returncode == 0, result.stderr
    lxd.wait_until(lambda: not lxd.exists(name), timeout=180, what=f"{name} to expire")
    # the stack still knows about it: destroy forgets the vanished container and succeeds
    result = cli("stack", "destroy", "--name", name)
    assert result.returncode == 0, result.stderr
    assert "already gone" in result.stderr
    assert not (cmlinfra_home / "stacks" / name).exists()


class _BrokenAddressCloud(LxdCloud):
    """The real lxd cloud, except that reading the address fails — the narrowest way to make a
    real apply fail after terraform created the container."""

    events: list[str]

    def address(self, outputs: dict[str, Any]) -> MachineAddress:
        self.created = str(outputs["instance_id"])
        self.events.append("address wait")
        raise CmlinfraError("host key never appeared", "check the image")


def test_failed_apply_destroys_what_it_created(
    lxd: LocalCloud, cmlinfra_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = lxd.name("fail")
    broken = _BrokenAddressCloud()
    broken.events = []
    monkeypatch.setattr(service, "get_cloud", lambda _: broken)
    prepared = service.prepare(MachineRequest(name=name), "lxd")
    with pytest.raises(CmlinfraError) as info:
        service.apply(prepared, on_created=lambda: broken.events.append("created"))
    assert broken.created == name  # it really was created…
    # …and said so before the wait for the boot (a launch registers the runner meanwhile)
    assert broken.events == ["created", "address wait"]
    assert "what it created was destroyed" in info.value.problem
    assert "host key never appeared" in info.value.problem
    assert not lxd.exists(name)  # …and is gone, with its stack directory
    assert not (cmlinfra_home / "stacks" / name).exists()


class _BadVariableCloud(LxdCloud):
    """The real lxd cloud with a stack terraform refuses while planning (a CPU count that is
    not a number): a request that passes our checks but not terraform's."""

    def stack(self, machine: Any, ssh_public_key: str) -> Any:
        spec = super().stack(machine, ssh_public_key)
        spec.modules["runner"][1]["cpu"] = "two"
        return spec


def test_a_stack_terraform_refuses_creates_nothing(
    lxd: LocalCloud, cmlinfra_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = lxd.name("refused")
    monkeypatch.setattr(service, "get_cloud", lambda _: _BadVariableCloud())
    prepared = service.prepare(MachineRequest(name=name), "lxd")
    created: list[str] = []
    with pytest.raises(CmlinfraError) as info:
        service.apply(prepared, on_created=lambda: created.append("created"))
    assert created == []  # nothing was created: a launch never asked the forge
    assert "Invalid value for input variable" in info.value.problem
    assert "destroyed" not in info.value.problem  # nothing was there to destroy
    assert not lxd.exists(name)
    assert not (cmlinfra_home / "stacks" / name).exists()


def test_host_is_reachable_only_on_the_bridge(lxd: LocalCloud) -> None:
    """The local cloud's bridge is the documented one, with NAT (containers reach apt)."""
    info = LxdApi().get("/1.0/networks/cmlbr0")
    assert info["config"]["ipv4.address"] == "10.77.91.1/24"
    assert info["config"]["ipv4.nat"] == "true"


def test_render_and_plan_create_nothing(lxd: LocalCloud, cli, cmlinfra_home: Path) -> None:
    name = lxd.name("plan")
    rendered = cli("stack", "render", "--name", name, "--cloud-metadata", "team=ml")
    assert rendered.returncode == 0, rendered.stderr
    module = json.loads(rendered.stdout)["module"]["runner"]
    stack = cmlinfra_home / "stacks" / name
    public = (stack / "id_ed25519.pub").read_text().strip()
    assert module["ssh_public_key"] == public
    private_body = (stack / "id_ed25519").read_text().splitlines()[1]
    assert private_body not in (stack / "terraform" / "stack.tf.json").read_text()
    planned = cli("--json", "stack", "plan", "--name", name)
    assert planned.returncode == 0, planned.stderr
    result = json.loads(planned.stdout)
    assert result["plan"]["create"] == 2 and result["hourly_price"] == 0.0
    assert not lxd.exists(name)
    destroyed = cli("stack", "destroy", "--name", name)
    assert destroyed.returncode == 0, destroyed.stderr
    assert not stack.exists()
