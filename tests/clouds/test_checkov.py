"""checkov on every Terraform module we ship: no failed check, every skip justified inline.

checkov runs offline (``--skip-download``) from its own virtual environment, which
scripts/setup.sh installs in .cache/tools/checkov (it pins too many packages to share ours).
A missing checkov is a broken setup, so the test fails rather than skips. A deliberately
insecure copy of a module must fail, which proves the scan really evaluates our resources.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "terraform" / "modules"
CHECKOV = ROOT / ".cache" / "tools" / "checkov" / "bin" / "checkov"


def checkov(directory: Path) -> list[dict[str, Any]]:
    assert CHECKOV.exists(), f"checkov is not installed at {CHECKOV}; run scripts/setup.sh"
    result = subprocess.run(
        [str(CHECKOV), "--skip-download", "--framework", "terraform", "-o", "json",
         "-d", str(directory)],
        capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(directory), "LOG_LEVEL": "ERROR"},
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    if not result.stdout.strip():
        return []
    data = json.loads(result.stdout)
    return data if isinstance(data, list) else [data]


@pytest.fixture(scope="module")
def scan() -> list[dict[str, Any]]:
    return checkov(MODULES)


def _checks(reports: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for r in reports for c in r.get("results", {}).get(kind, [])]


def test_no_failed_checks(scan: list[dict[str, Any]]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in _checks(scan, "failed_checks")
    ]
    assert failed == []


def test_every_module_is_parsed_and_cloud_ones_checked(scan: list[dict[str, Any]]) -> None:
    """checkov has no checks for the lxd and ssh providers, so only parse errors can show there;
    the AWS, GCP and Azure modules must each produce results, or the scan silently missed them."""
    assert scan and all(r["summary"]["parsing_errors"] == 0 for r in scan)
    aws = {
        p.parent.relative_to(MODULES)
        for cloud in ("aws", "gcp", "azure")
        for p in MODULES.glob(f"{cloud}/*/main.tf")
    }
    scanned = {
        Path(c["file_path"].lstrip("/")).parent
        for kind in ("passed_checks", "failed_checks", "skipped_checks")
        for c in _checks(scan, kind)
    }
    assert aws and aws <= scanned


def test_every_skip_has_a_reason(scan: list[dict[str, Any]]) -> None:
    """``#checkov:skip=CKV_X:reason``: a skip without a real reason hides a finding."""
    for check in _checks(scan, "skipped_checks"):
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']}: {reason!r}"


# What each cloud's runner must not lose, as (secure text, insecure text) in its main.tf, and
# the findings checkov must then report (with SSH open to the world on the network module).
INSECURE: dict[str, tuple[list[tuple[str, str]], set[tuple[str, str]]]] = {
    # unencrypted root volume, IMDSv1, SSH open to the world
    "aws": (
        [
            ("encrypted             = true", "encrypted             = false"),
            (
                'http_tokens                 = "required"',
                'http_tokens                 = "optional"',
            ),
        ],
        {
            ("CKV_AWS_8", "aws_instance.this"),
            ("CKV_AWS_79", "aws_instance.this"),
            ("CKV_AWS_24", "aws_vpc_security_group_ingress_rule.ssh_world_ipv4[0]"),
        },
    ),
    # project-wide SSH keys, no Shielded VM, SSH open to the world
    "gcp": (
        [
            ('"block-project-ssh-keys" = "true"', '"block-project-ssh-keys" = "false"'),
            ("enable_vtpm                 = true", "enable_vtpm                 = false"),
        ],
        {
            ("CKV_GCP_32", "google_compute_instance.this"),
            ("CKV_GCP_39", "google_compute_instance.this"),
            ("CKV_GCP_2", "google_compute_firewall.ssh_world[0]"),
        },
    ),
    # password login, SSH open to the world
    "azure": (
        [("disable_password_authentication = true", "disable_password_authentication = false")],
        {
            ("CKV_AZURE_149", "azurerm_linux_virtual_machine.this"),
            ("CKV_AZURE_10", "azurerm_network_security_rule.ssh_world[0]"),
        },
    ),
}


@pytest.mark.parametrize("cloud", list(INSECURE))
def test_an_insecure_runner_fails(cloud: str, tmp_path: Path) -> None:
    """A runner weakened where it matters, and SSH open to the world: checkov must catch each."""
    weakenings, expected = INSECURE[cloud]
    module = tmp_path / cloud / "gpu-runner"
    shutil.copytree(MODULES / cloud / "gpu-runner", module)
    main = module / "main.tf"
    text = main.read_text()
    for secure, insecure in weakenings:
        assert secure in text
        text = text.replace(secure, insecure)
    main.write_text(text)
    network = tmp_path / cloud / "network"
    shutil.copytree(MODULES / cloud / "network", network)
    variables = network / "variables.tf"
    world_on, count = re.subn(
        r'(variable "allow_world_ssh" \{.*?default\s*=\s*)false',
        r"\1true",
        variables.read_text(),
        flags=re.S,
    )
    assert count == 1
    variables.write_text(world_on)
    failed = {(c["check_id"], c["resource"]) for c in _checks(checkov(tmp_path), "failed_checks")}
    assert expected <= failed, expected - failed
