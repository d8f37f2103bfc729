"""Bad input to ``cmlinfra stack``: one line on stderr, exit ≠ 0, and nothing left behind —
no stack directory, no key pair, no container."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.lxd import LocalCloud
from tests.fixtures.moto import free_port

BAD = [
    (["--cloud-type", "p3.8xlarge"], "unknown size 'p3.8xlarge' for the lxd cloud"),
    (["--cloud-region", "us-west"], "unknown region 'us-west'"),
    (["--cloud-gpu", "v100"], "this LXD host has no GPU"),
    (["--cloud-metadata", "novalue"], "--cloud-metadata 'novalue' is not key=value"),
    (["--cloud-metadata", "bad key=x"], "is not a valid label"),
    (["--cloud-metadata", "cmlinfra.stack=x"], "is not a valid label"),
    (["--cloud-spot", "--cloud-spot-price", "cheap"], "--cloud-spot-price 'cheap' is not a price"),
    (["--cloud-spot-price", "0.5"], "--cloud-spot-price needs --cloud-spot"),
    (["--cloud-spot"], "--cloud-spot is not supported by the lxd cloud"),
    (["--cloud-hdd-size", "50"], "--cloud-hdd-size is not supported by the lxd cloud"),
    (["--cloud-image", "no-such-image"], "LXD image 'no-such-image' does not exist"),
    (["--max-ttl", "forever"], "--max-ttl 'forever' is not a duration"),
    (["--ssh-cidr", "everyone"], "--ssh-cidr 'everyone' is not a CIDR"),
    (["--cloud", "gce"], "unknown cloud 'gce'"),
    (["--cloud", "ssh", "--host", "10.0.0.1"], "needs the machine's host key"),
]


def _assert_one_line_error(result, expected: str, code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cmlinfra: error: ") and expected in lines[0], lines[0]
    assert result.stdout == ""


@pytest.mark.lxd
@pytest.mark.parametrize(("args", "expected"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_creates_nothing(
    args: list[str], expected: str, lxd: LocalCloud, cli, cmlinfra_home: Path
) -> None:
    name = lxd.name("bad")
    result = cli("stack", "apply", "--name", name, *args)
    _assert_one_line_error(result, expected)
    assert not (cmlinfra_home / "stacks" / name).exists()
    assert not lxd.exists(name)


def test_bad_name(cli, cmlinfra_home: Path) -> None:
    _assert_one_line_error(cli("stack", "plan", "--name", "Bad_Name"), "not a valid hostname")
    assert not (cmlinfra_home / "stacks").exists()


def test_lxd_unreachable_is_one_line_with_the_fix(cli, cmlinfra_home: Path, tmp_path: Path) -> None:
    socket = tmp_path / "no-lxd.socket"
    result = cli("stack", "apply", "--name", "cmlt-unreachable", env={"LXD_SOCKET": str(socket)})
    _assert_one_line_error(result, f"LXD is not reachable at {socket}", code=1)
    assert "run scripts/localcloud.sh up" in result.stderr
    assert not (cmlinfra_home / "stacks").exists()


def test_destroy_unknown_stack(cli, cmlinfra_home: Path) -> None:
    result = cli("stack", "destroy", "--name", "cmlt-never")
    _assert_one_line_error(result, "no stack named 'cmlt-never'", code=1)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ["--cloud", "aws", "--cloud-type", "huge"],
            {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
            "unknown --cloud-type 'huge'",
        ),
        (["--cloud", "lxd", "--cloud-type", "huge"], {}, "unknown size 'huge' for the lxd cloud"),
    ],
    ids=["aws", "lxd"],
)
def test_a_typo_is_reported_even_when_the_cloud_is_unreachable(
    cli, cmlinfra_home: Path, tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    """The offline checks run before the reachability check: a dead endpoint (a loopback port
    nothing listens on, a socket that does not exist) does not hide the typo."""
    dead = {
        **env,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "LXD_SOCKET": str(tmp_path / "no-lxd.socket"),
    }
    result = cli("stack", "plan", "--name", "cmlt-typo", *args, env=dead)
    _assert_one_line_error(result, expected)
    assert not (cmlinfra_home / "stacks").exists()
