"""Finding terraform/tofu and refusing versions we cannot drive.

Real binaries for the supported versions; for versions that cannot be installed here (old
terraform, OpenTofu) a tiny script that prints what that version's ``version -json`` prints —
a narrow fake of that one command, which is all ``find_terraform`` runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.terraform import TerraformBinary, find_terraform


def fake_binary(directory: Path, name: str, version: str, *, text: str | None = None) -> Path:
    """A script answering ``version -json`` like terraform/tofu ``version`` would."""
    directory.mkdir(parents=True, exist_ok=True)
    body = text if text is not None else json.dumps({"terraform_version": version})
    path = directory / name
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' '{body}'\n")  # printf: a builtin, no PATH needed
    path.chmod(0o755)
    return path


@pytest.fixture
def bare_path(monkeypatch, tmp_path) -> Path:
    """PATH holds only an empty bin directory (plus sh for the fakes); no CMLINFRA_TERRAFORM."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.delenv("CMLINFRA_TERRAFORM", raising=False)
    return bindir


def test_real_versions_are_found_and_supported(terraform_binary) -> None:
    found = find_terraform(str(terraform_binary.path))
    assert found.version_text == terraform_binary.version
    assert found.flavor == "terraform"
    assert found.path == terraform_binary.path.absolute()
    assert str(found).startswith(f"terraform {terraform_binary.version} (")


def test_precedence_explicit_env_then_path(bare_path, terraform_latest, monkeypatch, tmp_path):
    old = find_terraform(str(terraform_latest.path))
    (bare_path / "terraform").symlink_to(terraform_latest.path)
    assert find_terraform().path == bare_path / "terraform"  # PATH
    tofu = fake_binary(tmp_path / "other", "tofu", "1.8.2")
    monkeypatch.setenv("CMLINFRA_TERRAFORM", str(tofu))
    assert find_terraform().flavor == "tofu"  # env beats PATH
    assert find_terraform(str(terraform_latest.path)) == old  # explicit beats env
    assert find_terraform("terraform").path == bare_path / "terraform"  # a name, looked up


def test_tofu_on_path_when_no_terraform(bare_path) -> None:
    fake_binary(bare_path, "tofu", "1.9.0")
    found = find_terraform()
    assert (found.flavor, found.version, found.version_text) == ("tofu", (1, 9, 0), "1.9.0")


def test_old_terraform_on_path_does_not_hide_tofu(bare_path) -> None:
    fake_binary(bare_path, "terraform", "0.14.11")
    fake_binary(bare_path, "tofu", "1.6.2")
    assert find_terraform().flavor == "tofu"


def test_symlink_named_terraform_to_tofu_is_tofu(bare_path, tmp_path) -> None:
    real = fake_binary(tmp_path / "opt", "tofu", "1.8.0")
    (bare_path / "terraform").symlink_to(real)
    assert find_terraform().flavor == "tofu"


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        (
            "terraform",
            "0.14.11",
            r"terraform 0\.14\.11 at .* is not supported \(need terraform >= 1\.0\.0",
        ),
        ("terraform", "2.0.0", r"terraform 2\.0\.0 at .* is not supported"),
        ("tofu", "1.5.7", r"tofu 1\.5\.7 at .* is not supported \(need tofu >= 1\.6\.0"),
    ],
)
def test_unsupported_versions_are_refused(bare_path, name, version, message) -> None:
    fake_binary(bare_path, name, version)
    with pytest.raises(CmlinfraError, match=message) as caught:
        find_terraform()
    assert "install Terraform >= 1.0 or OpenTofu >= 1.6" in caught.value.line()


def test_pre_json_terraform_is_refused(bare_path) -> None:
    """Terraform 0.12 prints text for ``version -json``."""
    fake_binary(
        bare_path, "terraform", "", text="Terraform v0.12.31\n\nYour version is out of date"
    )
    with pytest.raises(CmlinfraError, match=r"terraform 0\.12\.31 .* is not supported"):
        find_terraform()


def test_not_terraform_at_all(bare_path) -> None:
    fake_binary(bare_path, "terraform", "", text="hello")
    with pytest.raises(CmlinfraError, match="does not look like terraform or tofu"):
        find_terraform()


def test_nothing_found(bare_path) -> None:
    with pytest.raises(CmlinfraError) as caught:
        find_terraform()
    assert caught.value.line() == (
        "neither terraform nor tofu is on PATH; install Terraform >= 1.0 or OpenTofu >= 1.6, "
        "or set CMLINFRA_TERRAFORM (or --terraform) to its path"
    )


def test_explicit_missing_path(bare_path, tmp_path, monkeypatch) -> None:
    with pytest.raises(CmlinfraError, match=r"--terraform '.*/nope' is not an executable file"):
        find_terraform(str(tmp_path / "nope"))
    monkeypatch.setenv("CMLINFRA_TERRAFORM", "no-such-terraform")
    with pytest.raises(CmlinfraError, match=r"CMLINFRA_TERRAFORM 'no-such-terraform' is not"):
        find_terraform()


def test_feature_checks_follow_the_flavor() -> None:
    tofu = TerraformBinary(Path("/x/tofu"), (1, 8, 0), "tofu")
    terraform = TerraformBinary(Path("/x/terraform"), (1, 8, 0), "terraform")
    assert tofu.at_least(terraform=(1, 10, 0), tofu=(1, 8, 0))
    assert not terraform.at_least(terraform=(1, 10, 0), tofu=(1, 8, 0))
    assert os.fspath(terraform.path) == "/x/terraform"


def test_concurrent_lookups_run_version_once(bare_path, tmp_path, monkeypatch) -> None:
    """A launcher looks terraform up ahead, in a thread, while its main thread gets to the
    same lookup: the second waits for the first's answer instead of starting a second
    ``version`` process. The fake is slow and counts its runs."""
    import threading

    runs = tmp_path / "runs"
    body = json.dumps({"terraform_version": "1.11.4"})
    path = bare_path / "terraform"
    path.write_text(f"#!/bin/sh\necho run >> '{runs}'\nsleep 0.3\nprintf '%s\\n' '{body}'\n")
    path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bare_path}:/bin:/usr/bin")  # the fake needs sleep
    found: list[TerraformBinary] = []
    threads = [threading.Thread(target=lambda: found.append(find_terraform())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [binary.version for binary in found] == [(1, 11, 4)] * 3
    assert runs.read_text().splitlines() == ["run"]
