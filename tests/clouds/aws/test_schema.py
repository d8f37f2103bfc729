"""The AWS modules against the AWS provider's schema, offline (no provider binary here).

The checker is proven able to fail first: a deliberately wrong snippet for each kind of
mistake must be reported, and a correct one must not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clouds.hclschema import check_module, check_text, load_snapshot

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted((ROOT / "terraform" / "modules" / "aws").iterdir())


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return load_snapshot()


def test_snapshot_names_its_source(snapshot: dict) -> None:
    source = snapshot["source"]
    assert source["package"].startswith("cdktn-provider-aws==")
    assert source["provider"] == "hashicorp/aws"
    assert source["provider_version"].startswith("6.")


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_matches_provider_schema(module: Path, snapshot: dict) -> None:
    assert list(module.glob("*.tf")), f"{module} has no .tf files"
    assert check_module(module, snapshot) == []


def test_every_aws_type_the_modules_use_is_in_the_snapshot(snapshot: dict) -> None:
    """A stale snapshot would make the checker silently skip types; it must not."""
    import re

    used = set()
    for module in MODULES:
        for tf in module.glob("*.tf"):
            used |= set(re.findall(r'^(resource|data) "(aws_\w+)"', tf.read_text(), re.M))
    assert used, "no aws_* types found; the glob is wrong"
    missing = {(k, t) for k, t in used if t not in snapshot[k]}
    assert missing == set()


GOOD = """
resource "aws_instance" "this" {
  ami           = "ami-0123456789abcdef0"
  instance_type = "g4dn.xlarge"
  count         = 1
  metadata_options {
    http_tokens = "required"
  }
  dynamic "instance_market_options" {
    for_each = [1]
    content {
      market_type = "spot"
      spot_options {
        max_price = "0.5"
      }
    }
  }
  lifecycle {
    ignore_changes = [ami]
  }
}
data "aws_ami" "u" {
  owners = ["099720109477"]
  filter {
    name   = "name"
    values = ["ubuntu/*"]
  }
}
output "ip" {
  value = aws_instance.this[0].public_ip
}
output "image" {
  value = data.aws_ami.u.id
}
"""


def test_checker_accepts_a_correct_snippet(snapshot: dict) -> None:
    assert check_text(GOOD, snapshot) == []


@pytest.mark.parametrize(
    ("wrong", "right", "expected"),
    [
        ("instance_type = ", "instance_typ = ", "instance_typ: unknown argument"),
        ("metadata_options {", "metadata_option {", "metadata_option: unknown block"),
        ("http_tokens", "http_token", "metadata_options.http_token: unknown argument"),
        ("max_price", "max_bid", "spot_options.max_bid: unknown argument"),
        (
            'dynamic "instance_market_options"',
            'dynamic "market_options"',
            "dynamic 'market_options'",
        ),
        ("metadata_options {", "metadata_options = {", "metadata_options: is a block"),
        (
            'resource "aws_instance"',
            'resource "aws_instanse"',
            "'aws_instanse' is not in the schema",
        ),
        ("this[0].public_ip", "this[0].public_ipv4", "has no attribute 'public_ipv4'"),
        (
            "data.aws_ami.u.id",
            "data.aws_ami.v.id",
            "data.aws_ami.v.id refers to an undeclared data",
        ),
        (
            '  filter {\n    name   = "name"',
            '  filters {\n    name   = "name"',
            "filters: unknown block",
        ),
    ],
)
def test_checker_reports_each_kind_of_mistake(
    snapshot: dict, wrong: str, right: str, expected: str
) -> None:
    assert wrong in GOOD, "the mutation must apply"
    problems = check_text(GOOD.replace(wrong, right, 1), snapshot)
    assert any(expected in p for p in problems), problems


def test_checker_rejects_an_attribute_written_as_a_block(snapshot: dict) -> None:
    bad = 'resource "aws_instance" "x" {\n  tags {\n    Name = "x"\n  }\n}\n'
    assert any("tags: is an attribute" in p for p in check_text(bad, snapshot))


def test_a_typo_in_a_real_module_is_caught(snapshot: dict, tmp_path: Path) -> None:
    """The module check really walks the modules' nested blocks and outputs."""
    import shutil

    module = tmp_path / "gpu-runner"
    shutil.copytree(ROOT / "terraform" / "modules" / "aws" / "gpu-runner", module)
    main = module / "main.tf"
    main.write_text(
        main.read_text()
        .replace("http_put_response_hop_limit", "hop_limit")
        .replace("public_key = trimspace(var.ssh_public_key)", "")
    )
    outputs = module / "outputs.tf"
    outputs.write_text(
        outputs.read_text()
        .replace(".private_ip", ".private_ip_address")
        .replace("var.ssh_user", "var.ssh_usr")
        .replace("local.ami_id", "local.ami")
    )
    problems = check_module(module, snapshot)
    assert any("var.ssh_usr is not declared" in p for p in problems)
    assert any("aws_key_pair.this: missing required argument 'public_key'" in p for p in problems)
    assert any("local.ami is not declared" in p for p in problems)
    assert any("metadata_options.hop_limit: unknown argument" in p for p in problems)
    assert any("has no attribute 'private_ip_address'" in p for p in problems)
