"""The seam, proven through the real CLI: a cloud that lives only in the tests (fakecloud/),
registered by ``$CMLINFRA_CLOUD_PLUGINS`` alone, works with ``stack render``/``plan``,
``runner list``, ``gc`` and ``image list`` — its options in ``--help`` with their ``CML_*``
variables, its alias, its refusals — without a line of it outside its own package."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cmlinfra.clouds import PLUGINS_ENV, available_clouds, names_where
from cmlinfra.clouds.tags import IMAGE_BUILDER_ROLE, RUNNER_ROLE, STACK_ROLE
from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import open_store
from tests.clouds.contract.fakecloud import api
from tests.clouds.contract.harness_fake import PLUGIN, plant, plant_image
from tests.fixtures.cli import CliRunner


@dataclass
class World:
    env: dict[str, str]
    state: str
    home: Path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    root = tmp_path / "fakeapi"
    root.mkdir()
    monkeypatch.setenv(PLUGINS_ENV, PLUGIN)  # the CLI subprocesses inherit it
    monkeypatch.setenv(api.DIR_ENV, str(root))
    home = tmp_path / "home"
    return World({"CMLINFRA_HOME": str(home), "COLUMNS": "200"}, str(tmp_path / "reg"), home)


def _one_line(result, code: int) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


def test_help_shows_the_plugin_and_its_option(cli: CliRunner, world: World) -> None:
    stack = cli("stack", "render", "--help", env=world.env).stdout
    assert "fake (the test suite's fake cloud; also fk)" in stack
    assert "--cloud-fake-zone" in stack and "CML_STACK_CLOUD_FAKE_ZONE" in stack
    launch = cli("runner", "launch", "--help", env=world.env).stdout
    assert "--cloud-fake-zone" in launch and "CML_RUNNER_CLOUD_FAKE_ZONE" in launch
    assert "fake" in cli("gc", "--help", env=world.env).stdout
    image_help = cli("image", "list", "--help", env=world.env).stdout
    with_images = sorted({*names_where(lambda c: c.images), "fake"})
    assert " or ".join(with_images) in image_help
    without = cli("stack", "render", "--help", env={**world.env, PLUGINS_ENV: ""}).stdout
    assert "fake" not in without and "--cloud-fake-zone" not in without


def test_stack_render_and_plan(cli: CliRunner, world: World) -> None:
    args = ["--cloud", "fk", "--name", "cmlf-render", "--cloud-metadata", "team=ml"]
    rendered = cli("stack", "render", *args, "--cloud-fake-zone", "fz-q", env=world.env)
    assert rendered.returncode == 0, rendered.stderr
    machine = json.loads(rendered.stdout)["module"]["machine"]
    assert machine["zone"] == "fz-q" and machine["source"].endswith("fakecloud/module")
    labels = machine["labels"]
    assert labels["cmlinfra-stack"] == "cmlf-render" and labels["team"] == "ml"
    assert labels["cmlinfra-role"] == STACK_ROLE  # gc: a stack's machine, no record expected
    via_env = {**world.env, "CML_STACK_CLOUD_FAKE_ZONE": "fz-r"}
    planned = cli("--json", "stack", "plan", "--cloud", "fake", "--name", "cmlf-plan", env=via_env)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["hourly_price"] == 0.05
    metadata = json.loads((world.home / "stacks/cmlf-plan/metadata.json").read_text())
    assert metadata["cloud"] == "fake" and metadata["machine"]["region"] == "fz-r"


def test_refusals_name_the_cloud(cli: CliRunner, world: World) -> None:
    wrong = cli("stack", "render", "--cloud", "lxd", "--cloud-fake-zone", "fz-a", env=world.env)
    assert _one_line(wrong, 2) == (
        "cmlinfra: error: --cloud-fake-zone is a Fake option, not one of --cloud lxd; "
        "drop --cloud-fake-zone, or launch with --cloud fake"
    )
    zone = cli("stack", "render", "--cloud", "fake", "--cloud-fake-zone", "mars", env=world.env)
    assert "--cloud-fake-zone 'mars' is not a zone; use fz-a" in _one_line(zone, 2)
    unknown = cli("stack", "render", "--cloud", "fakes", env=world.env)
    everyone = ", ".join(sorted({*available_clouds(), "fake"}))  # the plugin is listed too
    assert f"use --cloud with one of: {everyone}" in _one_line(unknown, 2)
    assert not world.home.exists()  # nothing left behind


def test_runner_list_and_gc(cli: CliRunner, world: World) -> None:
    """A registry with the fake cloud's runners: listed with their cost; gc compares them with
    the fake API's machines, reports, fixes with --yes, and finds nothing the second time."""
    now = time.time()
    store = open_store(world.state)
    for name, price in (("cmlf-live", 0.05), ("cmlf-gone", 0.10)):
        record = RunnerRecord(name=name, cloud="fake", instance_type="m", region="fz-a")
        record.phase, record.hourly_price, record.created = "ready", price, now - 3600
        store.put(record)
    plant("cmlf-live", RUNNER_ROLE, now + 3600)
    plant("cmlf-orphan", RUNNER_ROLE, now + 3600)
    plant("cmlf-old", STACK_ROLE, now - 60)
    plant("cmlf-bake", IMAGE_BUILDER_ROLE, now + 3600)

    listed = json.loads(cli("--json", "runner", "list", "--state", world.state).stdout)
    rows = {r["name"]: r for r in listed["runners"]}
    assert rows["cmlf-live"]["cloud"] == "fake" and rows["cmlf-live"]["cost_so_far_usd"] == 0.05
    assert "fake" in cli("runner", "list", "--state", world.state, env=world.env).stdout

    report = cli("--json", "gc", "--state", world.state, "--no-forge", env=world.env)
    assert report.returncode == 0, report.stderr
    kinds = {(f["kind"], f["name"], f["cloud"]) for f in json.loads(report.stdout)["findings"]}
    assert kinds == {
        ("machine-gone", "cmlf-gone", "fake"),
        ("orphan-machine", "cmlf-orphan", "fake"),
        ("expired-machine", "cmlf-old", "fake"),
    }
    fixed = cli("gc", "--cloud", "fk", "--state", world.state, "--no-forge", "--yes", env=world.env)
    assert fixed.returncode == 0, fixed.stderr
    assert {m["labels"]["cmlinfra-stack"] for m in api.items("machines")} == {
        "cmlf-live",
        "cmlf-bake",
    }
    assert store.names() == ["cmlf-live"]
    again = cli("--json", "gc", "--state", world.state, "--no-forge", env=world.env)
    assert json.loads(again.stdout)["findings"] == []


def test_image_list(cli: CliRunner, world: World) -> None:
    image_id = plant_image("cmlf-gpu")
    listed = cli("--json", "image", "list", "--cloud", "fake", env=world.env)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)["images"]
    assert (row["cloud"], row["id"], row["name"], row["steps"]) == (
        "fake",
        image_id,
        "cmlf-gpu",
        "detect",
    )
    text = cli("image", "list", "--cloud", "fk", env=world.env).stdout
    assert "cmlf-gpu" in text and image_id in text
    api.delete("images", image_id)
    empty = cli("image", "list", "--cloud", "fake", env=world.env).stdout
    assert empty.strip() == "no cmlinfra images on fake"
