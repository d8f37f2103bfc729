"""The clouds' rows in ``cmlinfra doctor``: found without touching doctor, each fault named with
its fix, and none of them making a machine that uses another cloud "not ready"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cmlinfra.clouds.checks import cloud_checks
from cmlinfra.clouds.lxd.checks import PROVIDER_FILE, check_lxd, check_provider
from cmlinfra.clouds.ssh.checks import check_ssh_client
from cmlinfra.doctor import registered_checks


def _rows(result) -> dict[str, dict]:
    return {row["name"]: row for row in json.loads(result.stdout)["checks"]}


def test_cloud_checks_are_discovered() -> None:
    assert cloud_checks() == [check_lxd, check_provider, check_ssh_client]
    assert set(cloud_checks()) <= set(registered_checks())


def test_lxd_down_and_no_provider_are_warnings_with_the_fix(
    cli, tmp_path: Path, terraform_latest
) -> None:
    env = {
        "LXD_SOCKET": str(tmp_path / "no-lxd.socket"),
        "CMLINFRA_PROVIDER_MIRROR": str(tmp_path),
        "CMLINFRA_TERRAFORM": str(terraform_latest.path),
    }
    result = cli("--json", "doctor", env=env)
    assert result.returncode == 0, result.stderr
    rows = _rows(result)
    assert json.loads(result.stdout)["ok"] is True
    for name in ("lxd", "lxd image", "lxd provider"):
        assert rows[name]["status"] == "warning", rows[name]
        assert rows[name]["fix"] == "run scripts/localcloud.sh up"
    assert rows["lxd"]["detail"].startswith(f"LXD is not reachable at {tmp_path}/no-lxd.socket")
    assert rows["lxd provider"]["detail"] == f"terraform-lxd 1.5.0 is not in the mirror {tmp_path}"
    assert rows["ssh client"]["status"] == "ok"
    assert rows["ssh client"]["detail"].startswith("paramiko ")


def test_ssh_command_missing_is_a_warning(cli, tmp_path: Path, terraform_latest) -> None:
    """PATH with terraform and node only: no OpenSSH client, and cmlinfra still works."""
    import shutil

    bindir = tmp_path / "bin"
    bindir.mkdir()
    node = shutil.which("node")
    assert node is not None, "doctor's node row needs Node.js on PATH"
    (bindir / "node").symlink_to(node)
    env = {"PATH": str(bindir), "CMLINFRA_TERRAFORM": str(terraform_latest.path)}
    result = cli("--json", "doctor", env=env)
    assert result.returncode == 0, result.stderr
    row = _rows(result)["ssh command"]
    assert (row["status"], row["detail"]) == ("warning", "no ssh command on PATH")
    assert row["fix"].startswith("install openssh-client")


def test_an_empty_mirror_directory_is_not_the_provider(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CMLINFRA_PROVIDER_MIRROR", str(tmp_path))
    [row] = check_provider({})
    assert not row.ok and not row.required
    binary = tmp_path / PROVIDER_FILE.format(version="1.5.0")
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"\x7fELF")
    [row] = check_provider({})
    assert row.ok and row.detail == f"terraform-lxd 1.5.0 in {tmp_path}"


@pytest.mark.lxd
def test_the_local_cloud_is_ready(lxd, cli, terraform_latest) -> None:
    """After scripts/localcloud.sh up (the ``lxd`` fixture): every LXD row is ok."""
    result = cli("--json", "doctor", env={"CMLINFRA_TERRAFORM": str(terraform_latest.path)})
    assert result.returncode == 0, result.stderr
    rows = _rows(result)
    assert rows["lxd"]["status"] == "ok" and rows["lxd"]["detail"].startswith("LXD ")
    assert rows["lxd image"]["detail"] == "image cmlinfra-debian-12 is imported"
    assert rows["lxd provider"]["status"] == "ok"
