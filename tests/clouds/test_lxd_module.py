"""The lxd/runner module on its own (no cmlinfra): a real ``terraform plan`` on both versions,
checking what it would ask LXD for — including the GPU device no host here can provide."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cmlinfra.clouds.modules import module_path
from cmlinfra.stack.service import provider_mirror
from tests.fixtures.lxd import LocalCloud

pytestmark = pytest.mark.lxd


def _tf(binary: Path, workdir: Path, *args: str) -> str:
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    env.pop("TF_CLI_CONFIG_FILE", None)
    done = subprocess.run(
        [str(binary), *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_plan_with_gpu_ttl_and_labels(lxd: LocalCloud, terraform_binary, tmp_path: Path) -> None:
    mirror = provider_mirror()
    assert mirror is not None, "no provider mirror: scripts/localcloud.sh up lays it out"
    config = {
        "module": {
            "runner": {
                "source": str(module_path("lxd", "runner")),
                "name": lxd.name("plan"),
                "ssh_public_key": "ssh-ed25519 AAAAkey test",
                "gpu": True,
                "gpu_pci": "0000:01:00.0",
                "max_ttl_seconds": 60,
                "expires": "1900000000",
                "labels": {"cmlinfra.stack": "s", "team": "ml"},
            }
        },
        "provider": {"lxd": [{"refresh_interval": "1s"}]},
        "terraform": {"required_providers": {"lxd": {"source": "terraform-lxd/lxd"}}},
    }
    (tmp_path / "main.tf.json").write_text(json.dumps(config))
    tf = terraform_binary.path
    _tf(tf, tmp_path, "init", "-input=false", f"-plugin-dir={mirror}")
    _tf(tf, tmp_path, "plan", "-input=false", "-out=tfplan")
    plan = json.loads(_tf(tf, tmp_path, "show", "-json", "tfplan"))
    change, key = sorted(plan["resource_changes"], key=lambda c: c["type"])
    assert change["type"] == "lxd_container" and change["change"]["actions"] == ["create"]
    after = change["change"]["after"]
    assert after["ephemeral"] is True
    assert after["wait_for_network"] is True  # on its own, the module's address output is set
    assert after["image"] == "cmlinfra-debian-12"
    assert after["limits"] == {"cpu": "2", "memory": "4GiB"}
    assert after["config"] == {
        "security.nesting": "true",
        "user.cmlinfra.expires": "1900000000",
        "user.cmlinfra.max-ttl": "60",
        "user.cmlinfra.stack": "s",
        "user.team": "ml",
    }
    assert after["device"] == [
        {"name": "gpu0", "type": "gpu", "properties": {"pci": "0000:01:00.0"}}
    ]
    # the key goes into the running container (a push before the start slows the start)
    assert after["file"] == []
    assert key["type"] == "lxd_container_file" and key["change"]["actions"] == ["create"]
    key_file = key["change"]["after"]
    assert key_file["target_file"] == "/root/.ssh/authorized_keys"
    assert key_file["content"] == "ssh-ed25519 AAAAkey test\n" and key_file["mode"] == "0600"
    assert (key_file["uid"], key_file["gid"]) == (0, 0)
