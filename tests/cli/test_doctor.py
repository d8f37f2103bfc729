"""``cmlinfra doctor`` as a subprocess: real terraform binaries and the machine's Node.js."""

from __future__ import annotations

import json

from cmlinfra.doctor import Check, registered_checks, run_checks
from cmlinfra.terraform.checks import check_terraform


def test_ready_machine(cli, terraform_latest) -> None:
    result = cli("doctor", env={"CMLINFRA_TERRAFORM": str(terraform_latest.path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:3] == ["terraform", "ok", "terraform"] for line in lines)
    assert any(line.split()[:3] == ["node", "ok", "Node.js"] for line in lines)
    assert lines[-1] == "ready"


def test_json_and_an_older_terraform(cli, terraform_binary) -> None:
    result = cli("--json", "doctor", "--terraform", str(terraform_binary.path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["checks"]}
    assert report["ok"] is True
    assert rows["terraform"]["detail"] == (
        f"terraform {terraform_binary.version} at {terraform_binary.path}"
    )
    lockfile = rows["s3 lockfile"]
    assert lockfile["required"] is False
    assert lockfile["ok"] is (terraform_binary.version != "1.0.3")


def test_missing_terraform_and_node(cli, tmp_path, terraform_latest) -> None:
    """PATH without node, and a CMLINFRA_TERRAFORM that does not exist: both rows say how to
    fix it, and doctor exits 1."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    result = cli(
        "--json", "doctor", env={"PATH": str(bindir), "CMLINFRA_TERRAFORM": str(tmp_path / "tf")}
    )
    assert result.returncode == 1
    rows = {row["name"]: row for row in json.loads(result.stdout)["checks"]}
    assert rows["node"]["status"] == "MISSING"
    assert rows["node"]["detail"] == "Node.js is not on PATH (cdktn needs it)"
    assert rows["node"]["fix"].startswith("install Node.js >= 18")
    assert rows["terraform"]["status"] == "MISSING"
    assert rows["terraform"]["fix"].startswith("install Terraform >= 1.0 or OpenTofu >= 1.6")

    text = cli("doctor", env={"PATH": str(bindir), "CMLINFRA_TERRAFORM": str(tmp_path / "tf")})
    assert text.returncode == 1
    assert text.stdout.splitlines()[-1] == "not ready: fix the MISSING rows above"
    assert all(line == line.rstrip() for line in text.stdout.splitlines())


def test_checks_are_pluggable_and_crashes_are_contained() -> None:
    assert check_terraform in registered_checks()

    def check_boom(options) -> list[Check]:
        raise RuntimeError("no socket")

    def check_fine(options) -> list[Check]:
        return [Check("fine", True, f"saw {options['x']}")]

    rows = run_checks({"x": 1}, [check_boom, check_fine])
    assert [(r.name, r.ok, r.detail) for r in rows] == [
        ("boom", False, "the check failed: RuntimeError: no socket"),
        ("fine", True, "saw 1"),
    ]
