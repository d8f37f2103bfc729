"""The cloud registry and the lxd catalog (pure data, no daemon)."""

from __future__ import annotations

import pytest

from cmlinfra.clouds import available_clouds, get_cloud
from cmlinfra.clouds.base import Cloud
from cmlinfra.clouds.lxd import catalog
from cmlinfra.clouds.modules import module_path
from cmlinfra.errors import UsageError


def test_available_clouds_are_loadable() -> None:
    names = available_clouds()
    assert {"lxd", "ssh"} <= set(names)
    for name in names:
        cloud = get_cloud(name)
        assert isinstance(cloud, Cloud) and cloud.name == name


def test_unknown_cloud_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_cloud("gce")
    assert "unknown cloud 'gce'" in info.value.line()
    assert "lxd" in info.value.fix and "ssh" in info.value.fix


def test_module_paths_exist() -> None:
    assert (module_path("lxd", "runner") / "main.tf").is_file()
    with pytest.raises(Exception, match="not found"):
        module_path("lxd", "nothing")


def test_lxd_sizes_and_regions() -> None:
    assert catalog.size("m") == catalog.Size(2, 4)
    assert catalog.region(None) == catalog.region("local") == "local"
    with pytest.raises(UsageError, match=r"unknown size 'p3\.2xlarge'"):
        catalog.size("p3.2xlarge")
    with pytest.raises(UsageError, match="unknown region 'us-west'"):
        catalog.region("us-west")


CARDS = [
    {"vendor": "NVIDIA Corporation", "product": "GH100 [H100 SXM5 80GB]", "pci_address": "a"},
    {"vendor": "Intel Corporation", "product": "UHD Graphics 630", "pci_address": "b"},
]


def test_lxd_gpu_matching() -> None:
    assert catalog.gpu(None, []) is None
    assert catalog.gpu("nogpu", []) is None
    assert catalog.gpu("h100", CARDS) == CARDS[0]
    assert catalog.gpu("intel", CARDS) == CARDS[1]
    assert catalog.gpu("any", CARDS) == CARDS[0]
    with pytest.raises(UsageError, match="has no GPU"):
        catalog.gpu("t4", [])
    with pytest.raises(UsageError, match="no GPU on this LXD host matches") as info:
        catalog.gpu("v100", CARDS)
    assert "H100" in info.value.fix


def test_plugins_register_by_name_and_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    from cmlinfra.clouds import PLUGINS_ENV, canonical, cloud_info, option_owner

    monkeypatch.setenv(PLUGINS_ENV, "tests.clouds.contract.fakecloud")
    assert "fake" in available_clouds() and canonical("fk") == "fake"
    assert get_cloud("fk").name == "fake" and cloud_info("fk").title == "Fake"
    owner = option_owner("--cloud-fake-zone")
    assert owner is not None and owner[0].name == "fake"
    assert option_owner("--cloud-aws-subnet-id") is not None  # an alias of the AWS option
    monkeypatch.setenv(PLUGINS_ENV, "")
    assert "fake" not in available_clouds()


@pytest.mark.parametrize(
    ("plugins", "problem"),
    [
        ("tests.clouds.no_such_cloud", "cannot load cloud tests.clouds.no_such_cloud"),
        ("tests.clouds.test_registry", "has no INFO (a CloudInfo) and make_cloud()"),
        (
            "tests.clouds.contract.fakecloud,tests.clouds.contract.fakecloud",
            "cloud name 'fake' of tests.clouds.contract.fakecloud is taken by the fake cloud",
        ),
    ],
)
def test_a_broken_plugin_is_one_line(
    monkeypatch: pytest.MonkeyPatch, plugins: str, problem: str
) -> None:
    from cmlinfra.clouds import PLUGINS_ENV
    from cmlinfra.errors import CmlinfraError

    monkeypatch.setenv(PLUGINS_ENV, plugins)
    with pytest.raises(CmlinfraError) as info:
        available_clouds()
    assert problem in info.value.line() and "CMLINFRA_CLOUD_PLUGINS" in info.value.fix


def test_capabilities_drive_the_neutral_code() -> None:
    from cmlinfra.clouds import DEFAULT_CLOUD, cloud_info, names_where

    assert DEFAULT_CLOUD in available_clouds()
    assert not cloud_info("ssh").capabilities.creates_machines
    assert names_where(lambda c: c.images) == ["aws", "azure", "gcp", "lxd"]
    assert names_where(lambda c: c.has_inventory) == ["aws", "azure", "gcp", "kubernetes", "lxd"]
    assert names_where(lambda c: c.container) == ["kubernetes"]
