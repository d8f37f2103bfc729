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
        get_cloud("gcp")
    assert "unknown cloud 'gcp'" in info.value.line()
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
