"""The cdktn composer: structure of the synthesized JSON, and that terraform accepts it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cmlinfra.clouds.base import StackSpec
from cmlinfra.clouds.modules import module_path
from cmlinfra.stack.compose import STACK_FILE, synthesize

LXD_VARS = {"name": "cmlt-x", "ssh_public_key": "ssh-ed25519 AAAA", "labels": {"team.name": "ml"}}


def _spec(**overrides: object) -> StackSpec:
    fields: dict[str, object] = {
        "name": "cmlt-x",
        "cloud": "lxd",
        "modules": {"runner": (module_path("lxd", "runner"), LXD_VARS)},
        "providers": {"lxd": {"refresh_interval": "1s"}},
        "required_providers": {"lxd": {"source": "terraform-lxd/lxd", "version": "1.5.0"}},
        "outputs": {"address": "module.runner.address", "ssh_port": "module.runner.ssh_port"},
    }
    fields.update(overrides)
    return StackSpec(**fields)  # type: ignore[arg-type]


def _synth(tmp_path: Path, spec: StackSpec, backend: dict | None = None) -> dict:
    path = synthesize(spec, tmp_path / "work", backend)
    assert path == tmp_path / "work" / STACK_FILE
    assert [p.name for p in path.parent.iterdir()] == [STACK_FILE]  # no cdktn leftovers
    return json.loads(path.read_text())


def test_modules_outputs_and_providers(tmp_path: Path) -> None:
    doc = _synth(tmp_path, _spec(sensitive_outputs=frozenset({"ssh_port"})))
    module = doc["module"]["runner"]
    assert module["source"] == str(module_path("lxd", "runner"))
    assert module["labels"] == {"team.name": "ml"}  # keys pass through unchanged
    assert module["ssh_public_key"] == "ssh-ed25519 AAAA"
    assert doc["output"]["address"] == {"value": "${module.runner.address}"}
    assert doc["output"]["ssh_port"]["sensitive"] is True
    assert doc["provider"] == {"lxd": [{"refresh_interval": "1s"}]}
    assert doc["terraform"]["required_providers"]["lxd"]["version"] == "1.5.0"
    backend = doc["terraform"]["backend"]
    assert backend == {"local": {"path": str(tmp_path / "work" / "terraform.tfstate")}}


def test_s3_backend_replaces_the_default_local_one(tmp_path: Path) -> None:
    block = {"s3": {"bucket": "b", "key": "k", "endpoints": {"s3": "http://127.0.0.1:1"}}}
    doc = _synth(tmp_path, _spec(), block)
    assert doc["terraform"]["backend"] == block


def test_given_local_backend_path_wins(tmp_path: Path) -> None:
    doc = _synth(tmp_path, _spec(), {"local": {"path": "/somewhere/x.tfstate"}})
    assert doc["terraform"]["backend"] == {"local": {"path": "/somewhere/x.tfstate"}}


def test_no_providers_means_no_provider_blocks(tmp_path: Path) -> None:
    spec = _spec(
        modules={"host": (module_path("ssh", "host"), {"host": "127.0.0.1"})},
        providers={},
        required_providers={},
        outputs={"address": "module.host.address"},
    )
    doc = _synth(tmp_path, spec)
    assert "provider" not in doc
    assert "required_providers" not in doc["terraform"]


@pytest.mark.parametrize("module", ["lxd/runner", "ssh/host"])
def test_modules_are_fmt_clean(module: str, terraform_latest) -> None:
    path = module_path(*module.split("/"))
    done = subprocess.run(
        [str(terraform_latest.path), "fmt", "-check", "-diff", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (path / name).is_file(), name


@pytest.mark.timeout(120)  # without the lock it hangs
def test_parallel_syntheses_in_one_process(tmp_path: Path) -> None:
    """``runner destroy --all`` rebuilds several stacks from the registry in parallel threads:
    jsii's one kernel pipe must not interleave them (it hung, or answered another thread)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> dict:
        spec = _spec(
            name=f"cmlt-par{i}",
            modules={"host": (module_path("ssh", "host"), {"host": f"192.0.2.{i}"})},
            providers={},
            required_providers={},
            outputs={"address": "module.host.address"},
        )
        return json.loads(synthesize(spec, tmp_path / f"w{i}").read_text())

    with ThreadPoolExecutor(max_workers=4) as pool:
        documents = list(pool.map(one, range(8)))
    assert [d["module"]["host"]["host"] for d in documents] == [f"192.0.2.{i}" for i in range(8)]
