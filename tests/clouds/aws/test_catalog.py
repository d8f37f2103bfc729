"""CML's vocabulary on AWS, checked offline: every bad input is one line, before any call."""

from __future__ import annotations

import pytest

from cmlinfra.clouds.aws import catalog
from cmlinfra.errors import UsageError


@pytest.mark.parametrize(
    ("cloud_type", "gpu", "instance_type", "gpu_name", "count"),
    [
        ("m", None, "m5.2xlarge", None, 0),
        ("l", None, "m5.8xlarge", None, 0),
        ("xl", None, "m5.16xlarge", None, 0),
        ("m+k80", None, "p2.xlarge", "k80", 1),
        ("xl+k80", None, "p2.16xlarge", "k80", 16),
        ("m+v100", None, "p3.2xlarge", "v100", 1),
        ("m", "tesla", "p3.2xlarge", "v100", 1),  # CML's old name for the V100
        ("m+t4", None, "g4dn.xlarge", "t4", 1),
        ("m", "t4", "g4dn.xlarge", "t4", 1),
        ("L+T4", None, "g4dn.12xlarge", "t4", 4),
        ("m+a10g", None, "g5.xlarge", "a10g", 1),
        ("xl+a100", None, "p4d.24xlarge", "a100", 8),
        ("m", "nogpu", "m5.2xlarge", None, 0),
        ("g5.2xlarge", None, "g5.2xlarge", None, 0),  # raw: the EC2 API fills in the GPU
    ],
)
def test_cml_types_map_to_instance_types(
    cloud_type: str, gpu: str | None, instance_type: str, gpu_name: str | None, count: int
) -> None:
    spec = catalog.instance_spec(cloud_type, gpu)
    assert (spec.instance_type, spec.gpu, spec.gpu_count) == (instance_type, gpu_name, count)


def test_every_catalog_type_has_a_price_and_the_table_names_its_source() -> None:
    table = catalog.price_table()
    assert table["as_of"] and table["source"] and table["region"] == "us-east-1"
    for instance_type in catalog.TYPES.values():
        entry = table["types"][instance_type]
        assert entry["price"] > 0 and entry["vcpus"] > 0
    assert catalog.instance_spec("m+t4").hourly_price == table["types"]["g4dn.xlarge"]["price"]


def test_a_raw_type_with_a_gpu_ignores_the_gpu_as_tpi_does(caplog) -> None:
    spec = catalog.instance_spec("g5.xlarge", "t4")
    assert spec.instance_type == "g5.xlarge" and spec.gpu == "a10g"
    assert "--cloud-gpu t4 ignored: the instance type g5.xlarge decides" in caplog.text


def test_zones_split_as_tpi_splits_them() -> None:
    assert catalog.split_zone("us-east-1a") == ("us-east-1", "us-east-1a")
    assert catalog.split_zone("us-west") == ("us-west", None)
    assert catalog.split_zone("us-east-1") == ("us-east-1", None)


@pytest.mark.parametrize(
    ("cloud_type", "gpu", "message"),
    [
        ("xxl", None, "unknown --cloud-type 'xxl'"),
        ("m+h100", None, "unknown GPU 'h100'"),
        ("m", "k81", "unknown GPU 'k81'; did you mean 'k80'?"),
        ("s+t4", None, "size 's' has no t4 GPU on AWS; use m+t4 or l+t4 or xl+t4"),
        ("m+a100", None, "size 'm' has no a100 GPU on AWS; use xl+a100"),
        ("m+t4", "v100", "--cloud-type m+t4 and --cloud-gpu v100 disagree"),
        ("g5 xlarge", None, "unknown --cloud-type 'g5 xlarge'"),
    ],
)
def test_bad_types_fail_in_one_line(cloud_type: str, gpu: str | None, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        catalog.instance_spec(cloud_type, gpu)
    assert message in caught.value.line()
    assert "\n" not in caught.value.line()


@pytest.mark.parametrize(
    ("given", "region"),
    [
        (None, "us-west-1"),  # CML's default
        ("us-east", "us-east-1"),
        ("us-west", "us-west-1"),
        ("eu-west", "eu-west-1"),
        ("eu-north", "eu-north-1"),
        ("eu-central-1", "eu-central-1"),
        ("AP-SOUTHEAST-2", "ap-southeast-2"),
        ("us-east-1a", "us-east-1"),  # a zone, as TPI reads it
        ("eu-west-3c", "eu-west-3"),
    ],
)
def test_regions(given: str | None, region: str) -> None:
    assert catalog.region_name(given) == region


def test_unknown_region_suggests_the_closest() -> None:
    with pytest.raises(UsageError) as caught:
        catalog.region_name("eu-centrl-1")
    assert "unknown AWS region 'eu-centrl-1'; did you mean 'eu-central-1'?" in caught.value.line()


@pytest.mark.parametrize(
    ("text", "value"), [(None, None), ("", None), ("-1", None), ("0.35", 0.35), (1.2, 1.2)]
)
def test_spot_price_parses(text: str | float | None, value: float | None) -> None:
    assert catalog.parse_spot_price(text) == value


@pytest.mark.parametrize("text", ["cheap", "0", "-0.5", "nan", "inf", "1,5"])
def test_malformed_spot_price_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--cloud-spot-price"):
        catalog.parse_spot_price(text)


def test_hdd_size_defaults_to_cml_and_is_bounded() -> None:
    assert catalog.hdd_size(None) == 35
    assert catalog.hdd_size(100) == 100
    for bad in (0, 7, 16385):
        with pytest.raises(UsageError, match="--cloud-hdd-size"):
            catalog.hdd_size(bad)


def test_metadata_becomes_tags_and_bad_keys_are_refused() -> None:
    assert catalog.tags({"team": "ml", "cost-center": "42"}) == {"team": "ml", "cost-center": "42"}
    for bad in ({"aws:owner": "x"}, {"": "x"}, {"a" * 129: "x"}, {"k": "v" * 257}, {"a;b": "x"}):
        with pytest.raises(UsageError, match="--cloud-metadata"):
            catalog.tags(bad)
