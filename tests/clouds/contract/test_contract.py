"""The contract every cloud keeps (docs/adding-a-cloud.md), run on each cloud's harness
(conftest.py): render → offline validation → inventory → idempotent delete → gc → images →
capabilities → error classification → address. Real components only: LXD, moto, OpenSSH's
wording, Terraform; the fake cloud is the one that exists only here."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds import canonical, cloud_info, cloud_infos, get_cloud
from cmlinfra.clouds.base import Cloud, ErrorKind, Machine
from cmlinfra.clouds.tags import IMAGE_BUILDER_ROLE, RUNNER_ROLE, STACK_ROLE
from cmlinfra.errors import CmlinfraError, UsageError
from tests.clouds.contract.kit import Harness, module_interface, unescaped_templates

CANARY = "cmlinfra-canary-token-5f0c2e"  # a forge token in the launcher's environment


def _ours(harness: Harness) -> dict[str, Machine]:
    inventory = get_cloud(harness.cloud).inventory(harness.scope)
    assert inventory is not None
    return {m.id: m for m in inventory.machines() if m.stack.startswith(harness.prefix)}


@pytest.fixture(scope="module")
def planted(harness: Harness) -> dict[str, str]:
    """Three machines carrying the cloud's tags, made through its API once per module: a
    runner's (no record: an orphan), a bake's builder (not expired), an expired stack's."""
    if harness.plant is None:
        return {}
    now = time.time()
    return {
        "runner": harness.plant(harness.name("run"), RUNNER_ROLE, now + 3600),
        "builder": harness.plant(harness.name("bld"), IMAGE_BUILDER_ROLE, now + 3600),
        "expired": harness.plant(harness.name("old"), STACK_ROLE, now - 3600),
    }


def test_registry_entry_matches_the_cloud(harness: Harness) -> None:
    info, cloud = cloud_info(harness.cloud), get_cloud(harness.cloud)
    assert isinstance(cloud, Cloud)
    assert cloud.name == info.name == harness.cloud and cloud.info == info
    assert info.title and info.summary and "\n" not in info.summary
    for alias in info.aliases:
        assert canonical(alias) == info.name and get_cloud(alias).name == info.name
    for option in info.options:
        assert option.flag.startswith(f"--cloud-{info.name}-") and option.help


def test_render_is_valid_terraform_and_carries_no_secret(
    harness: Harness, cmlinfra_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack fits its modules (every variable declared, every required one given, every
    output read exists); where the providers install here, ``terraform validate`` agrees. No
    token of the environment and no private key in it."""
    from cmlinfra.stack import service

    monkeypatch.setenv("REPO_TOKEN", CANARY)
    prepared = service.prepare(harness.request, harness.cloud)
    path = service.render(prepared)
    text = path.read_text()
    key = prepared.stack.private_key().reveal()
    assert CANARY not in text and key.strip().splitlines()[1] not in text
    stack = json.loads(text)
    outputs: dict[str, set[str]] = {}
    for label, block in stack["module"].items():
        names, required, outputs[label] = module_interface(Path(block["source"]))
        given = set(block) - {"source", "//", "version", "providers", "depends_on"}
        assert given <= names, f"{label}: undeclared variables {given - names}"
        assert required <= given, f"{label}: missing variables {required - given}"
    for name, output in stack.get("output", {}).items():
        _, label, attribute = output["value"].strip("${}").split(".")
        assert attribute in outputs[label], f"output {name} reads {label}.{attribute}"
    if harness.terraform_validates:
        workspace = service._workspace(prepared.binary, path.parent)
        workspace.init()
        done = subprocess.run(
            [str(prepared.binary.path), "validate", "-json"],
            cwd=path.parent,
            env=workspace.environment(),
            capture_output=True,
            text=True,
        )
        assert json.loads(done.stdout)["valid"], done.stdout


def test_user_values_reach_terraform_literally(harness: Harness, cmlinfra_home: Path) -> None:
    """A user's text that looks like a Terraform template must stay text: never evaluated on
    the launcher (it could read files into the plan and the state). A cloud may also refuse it
    outright (an SSH user, an EC2 tag value cannot hold it) or reduce it to what its labels
    allow: either way no template reaches Terraform (tests/security/test_terraform_injection.py
    proves the literal with real Terraform)."""
    from cmlinfra.stack import service

    probe = "${path.cwd}-%{ if true }x%{ endif }"
    try:
        prepared = service.prepare(harness.inject(probe), harness.cloud)
    except UsageError:
        return  # refused in one line, before anything exists
    text = service.render(prepared).read_text()
    carried = [value for value in _strings(json.loads(text)) if "path.cwd" in value]
    assert not [value for value in carried if unescaped_templates(value)], carried


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_offline_validation_refuses_bad_input_in_one_line(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real entry (``prepare``) with the cloud's API down: a typo is reported as a
    typo, not as an outage. An option of another cloud is refused naming that cloud."""
    from cmlinfra.stack import service

    for key, value in harness.down.items():
        monkeypatch.setenv(key, value)
    cases = list(harness.bad)
    foreign = [(i, o) for i in cloud_infos() if i.name != harness.cloud for o in i.options]
    if foreign:
        owner, option = foreign[0]
        request = dataclasses.replace(harness.request, options={option.flag: "x"})
        cases.append((request, f"or launch with --cloud {owner.name}"))
    for request, fragment in cases:
        with pytest.raises(UsageError) as refused:
            service.prepare(request, harness.cloud)
        line = refused.value.line()
        assert fragment in line and "\n" not in line and refused.value.fix, line


def test_inventory_finds_its_tagged_machines(harness: Harness, planted: dict[str, str]) -> None:
    capabilities = cloud_info(harness.cloud).capabilities
    if not capabilities.has_inventory:
        assert get_cloud(harness.cloud).inventory(harness.scope) is None
        return
    found = _ours(harness)
    assert set(planted.values()) <= set(found), (planted, found)
    runner, builder, expired = (found[planted[k]] for k in ("runner", "builder", "expired"))
    assert (runner.stack, runner.role) == (harness.name("run"), RUNNER_ROLE)
    assert (builder.role, expired.role) == (IMAGE_BUILDER_ROLE, STACK_ROLE)
    assert expired.expired() and not runner.expired() and not builder.expired()
    assert all(m.cloud == harness.cloud for m in found.values())


def test_delete_is_idempotent(harness: Harness) -> None:
    if harness.plant is None:
        assert not cloud_info(harness.cloud).capabilities.has_inventory
        return
    machine_id = harness.plant(harness.name("del"), STACK_ROLE, None)
    inventory = get_cloud(harness.cloud).inventory(harness.scope)
    assert inventory is not None
    machine = _ours(harness)[machine_id]
    inventory.delete(machine)
    inventory.delete(machine)  # already gone: not an error
    assert machine_id not in _ours(harness)


def test_gc_finds_orphans_and_expired_machines(
    harness: Harness, planted: dict[str, str], tmp_path: Path
) -> None:
    """With an empty registry: the runner's machine is an orphan, the expired stack machine is
    collected, the builder that has not expired is left (and said so); --yes deletes."""
    from cmlinfra.runner.gc import Sweeper
    from cmlinfra.runner.store import open_store

    inventory = get_cloud(harness.cloud).inventory(harness.scope)
    if inventory is None:
        assert not cloud_info(harness.cloud).capabilities.has_inventory
        return
    store = open_store(str(tmp_path / "registry"))
    gone = harness.plant(harness.name("gc"), STACK_ROLE, time.time() - 60)  # type: ignore[misc]
    sweeper = Sweeper(store=store, inventories=[inventory], prefix=harness.prefix)
    kinds = {f.name: f.kind for f in sweeper.find()}
    assert kinds[harness.name("run")] == "orphan-machine"
    assert kinds[harness.name("old")] == kinds[harness.name("gc")] == "expired-machine"
    assert harness.name("bld") not in kinds
    assert any(harness.name("bld") in line for line in sweeper.skipped)
    mine = [f for f in sweeper.find() if f.name == harness.name("gc")]
    assert [f.status for f in sweeper.fix(mine)] == ["fixed"]
    assert gone not in _ours(harness)
    assert harness.name("gc") not in {f.name for f in sweeper.find()}


def test_images_list_and_check_free(harness: Harness) -> None:
    capabilities = cloud_info(harness.cloud).capabilities
    store = get_cloud(harness.cloud).images(harness.image_region)
    if not capabilities.images:
        assert store is None
        return
    assert store is not None and store.cloud == harness.cloud
    assert all(image.cloud == harness.cloud for image in store.list_images())
    store.check_free(harness.name("free-image"))
    if harness.taken_image:
        with pytest.raises(UsageError):
            store.check_free(harness.taken_image)
    if harness.plant_image is not None:
        name = harness.name("img")
        image_id = harness.plant_image(name)
        (listed,) = [i for i in store.list_images() if i.id == image_id]
        assert listed.name == name and listed.to_dict()["id"] == image_id
        with pytest.raises(UsageError, match=name):
            store.check_free(name)
        store.delete(image_id)
        store.delete(image_id)  # already gone: not an error
        assert image_id not in {i.id for i in store.list_images()}


def test_capabilities_are_consistent(harness: Harness) -> None:
    cloud = get_cloud(harness.cloud)
    caps = cloud.info.capabilities
    if caps.creates_machines:
        assert caps.watchdog_end.strip(), "a machine it creates must be able to end itself"
    else:  # someone's own machine: never ended, swept or baked by cmlinfra
        assert not (caps.has_inventory or caps.images or caps.watchdog_end)
    assert not caps.stack_is_machine or caps.has_inventory  # the fast delete needs its API
    machine = cloud.resolve(harness.request)
    assert (machine.hourly_price is not None) == caps.prices_known
    note = cloud.cost_note(machine)
    assert note and "\n" not in note
    for given, able in ((dict(spot=True), caps.spot), (dict(gpu="t4"), caps.gpus)):
        if not able:
            with pytest.raises(UsageError):
                cloud.validate(dataclasses.replace(harness.request, **given))  # type: ignore[arg-type]


def test_watchdog_end_is_a_clean_script(harness: Harness, tmp_path: Path) -> None:
    from cmlinfra.runner.watchdog import WatchdogPolicy, render_scripts

    end = cloud_info(harness.cloud).capabilities.watchdog_end
    script = render_scripts(WatchdogPolicy(end_script=end))["watchdog"][1]
    assert end.strip() in script
    (tmp_path / "watchdog").write_text(script)
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: run scripts/setup.sh"
    checked = subprocess.run([shellcheck, "-s", "bash", str(tmp_path / "watchdog")], text=True)
    assert checked.returncode == 0


def test_errors_are_classified(harness: Harness) -> None:
    cloud = get_cloud(harness.cloud)
    assert harness.errors, "quote the cloud's real errors in its harness"
    for sample in harness.errors:
        assert cloud.classify_error(sample.text) == sample.kind, sample.source
        wrapped = CmlinfraError(f"apply of stack x failed: {sample.text}", "")
        assert cloud.classify_error(wrapped) == sample.kind, sample.source
    assert cloud.classify_error("the moon is in the wrong phase") == ErrorKind.UNKNOWN
    assert cloud.classify_error(UsageError("--cloud-type 'q' is unknown", "use m")) == (
        ErrorKind.BAD_REQUEST
    )


def test_address_takes_host_keys_from_a_trusted_channel(harness: Harness) -> None:
    """The host keys come from the cloud (its API, the user's own inventory), never from the
    network: where the cloud offers none yet, there are none (and the bootstrap refuses)."""
    assert harness.address_case is not None, "give the harness an address case"
    outputs, expected = harness.address_case()
    address = get_cloud(harness.cloud).address(outputs)
    assert address.host_keys == expected
    assert address.host and address.user and 0 < address.port < 65536
