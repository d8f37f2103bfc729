"""Backend blocks rendered per version, and ``--state`` URLs. (The blocks are exercised for
real against moto in test_lifecycle/test_locking; these pin the exact rendering.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.terraform import LocalBackend, S3Backend, TerraformBinary, parse_state_url
from cmlinfra.terraform.backends import write_backend

OLD = TerraformBinary(Path("/bin/terraform"), (1, 0, 3), "terraform")
NEW = TerraformBinary(Path("/bin/terraform"), (1, 11, 4), "terraform")
TOFU_17 = TerraformBinary(Path("/bin/tofu"), (1, 7, 0), "tofu")
TOFU_18 = TerraformBinary(Path("/bin/tofu"), (1, 8, 0), "tofu")

MOTO = "http://127.0.0.1:5000"
COMMON = {"bucket": "b", "key": "k/terraform.tfstate", "region": "eu-west-1", "encrypt": True}
SKIPS = {
    "skip_credentials_validation": True,
    "skip_metadata_api_check": True,
    "skip_region_validation": True,
}


def test_s3_on_terraform_1_0_uses_the_old_endpoint_options() -> None:
    backend = S3Backend("b", "k/terraform.tfstate", "eu-west-1", dynamodb_table="t", endpoint=MOTO)
    assert backend.block(OLD) == {
        "s3": {
            **COMMON,
            **SKIPS,
            "dynamodb_table": "t",
            "endpoint": MOTO,
            "dynamodb_endpoint": MOTO,
            "force_path_style": True,
        }
    }


def test_s3_from_1_6_uses_endpoints_and_skips_the_account_lookup() -> None:
    backend = S3Backend("b", "k/terraform.tfstate", "eu-west-1", dynamodb_table="t", endpoint=MOTO)
    assert backend.block(NEW) == {
        "s3": {
            **COMMON,
            **SKIPS,
            "dynamodb_table": "t",
            "endpoints": {"s3": MOTO, "dynamodb": MOTO},
            "use_path_style": True,
            "skip_requesting_account_id": True,
        }
    }


def test_s3_on_aws_has_no_endpoint_options() -> None:
    backend = S3Backend("b", "k/terraform.tfstate", "eu-west-1")
    expected = {"s3": {**COMMON, "dynamodb_table": "cmlinfra-locks"}}
    assert backend.block(OLD) == backend.block(NEW) == expected


def test_lockfile_needs_1_10_or_tofu_1_8() -> None:
    backend = S3Backend("b", "k/terraform.tfstate", "eu-west-1", lock="lockfile")
    assert backend.block(NEW) == {"s3": {**COMMON, "use_lockfile": True}}
    assert backend.block(TOFU_18)["s3"]["use_lockfile"] is True
    for binary in (OLD, TOFU_17):
        with pytest.raises(CmlinfraError) as caught:
            backend.block(binary)
        assert "lock=dynamodb" in caught.value.line()


def test_local_backend_and_write_backend(tmp_path) -> None:
    backend = LocalBackend(Path("state/x.tfstate"))
    assert backend.block(NEW) == {"local": {"path": str(Path("state/x.tfstate").absolute())}}
    written = write_backend(tmp_path, backend, NEW)
    assert written.name == "backend.tf.json"
    assert json.loads(written.read_text()) == {"terraform": {"backend": backend.block(NEW)}}


def test_describe_is_readable() -> None:
    backend = S3Backend("b", "k/terraform.tfstate", "eu-west-1", lock="lockfile", endpoint=MOTO)
    assert (
        backend.describe()
        == f"s3://b/k/terraform.tfstate (eu-west-1 at {MOTO}, locked by S3 lockfile)"
    )
    assert LocalBackend(Path("/s/t.tfstate")).describe() == "local state /s/t.tfstate"


@pytest.mark.parametrize(
    ("url", "name", "expected"),
    [
        (
            "s3://bkt/ci/runners?region=eu-west-1",
            "gpu-1",
            S3Backend("bkt", "ci/runners/gpu-1/terraform.tfstate", "eu-west-1"),
        ),
        (
            "s3://bkt?region=us-east-2&lock=lockfile",
            None,
            S3Backend("bkt", "terraform.tfstate", "us-east-2", lock="lockfile"),
        ),
        (
            "s3://bkt/one.tfstate?region=us-east-2&table=locks&endpoint=http://127.0.0.1:9000",
            "ignored",
            S3Backend(
                "bkt",
                "one.tfstate",
                "us-east-2",
                dynamodb_table="locks",
                endpoint="http://127.0.0.1:9000",
            ),
        ),
        ("/var/state", "gpu-1", LocalBackend(Path("/var/state/gpu-1/terraform.tfstate"))),
        ("file:///var/state/a.tfstate", None, LocalBackend(Path("/var/state/a.tfstate"))),
    ],
)
def test_parse_state_url(url, name, expected) -> None:
    assert parse_state_url(url, name=name) == expected


def test_parse_state_url_region_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert parse_state_url("s3://bkt/p").region == "ap-south-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "--state is empty"),
        ("s3:///prefix?region=x", "names no bucket"),
        ("s3://bkt/p?region=x&colour=red", "unknown parameter 'colour'"),
        ("s3://bkt/p?region=x&lock=etcd", "lock='etcd' is unknown"),
        ("s3://bkt/p", r"has no region; add \?region=REGION"),
        ("azure://bkt/p", "scheme 'azure' is not supported"),
    ],
)
def test_parse_state_url_errors(url, message, monkeypatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(UsageError, match=message) as caught:
        parse_state_url(url)
    assert "\n" not in caught.value.line()


def test_max_retries_is_passed_when_set() -> None:
    backend = S3Backend("b", "k/terraform.tfstate", "eu-west-1", max_retries=1)
    assert backend.block(OLD)["s3"]["max_retries"] == backend.block(NEW)["s3"]["max_retries"] == 1
    assert "max_retries" not in S3Backend("b", "k", "eu-west-1").block(NEW)["s3"]
