"""Finding 11: inputs that crashed with a traceback (exit 70) instead of a one-line error.

- Names and ids validated with ``$`` accepted a trailing newline (every pattern is now
  matched whole); numbers checked with ``str.isdigit()`` accepted ``²``, which ``int()`` then
  refused.
- An unwritable state home (stacks, the runner registry).
- A token that is not printable ASCII (a non-Latin-1 character cannot go into an HTTP header);
  the blanks a pasted token often carries at its ends are removed instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.attacks import assert_refused

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZ5bMgD0aRVMZgTmHHkf0PcgbEFf8Rsd3h7ZeuQD8mH"
NOWHERE = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
CLOUD_ARGS = {
    "lxd": [],
    "ssh": ["--host", "192.0.2.10", "--host-key", HOST_KEY],
    "aws": ["--ssh-cidr", "203.0.113.7/32"],
}


@pytest.mark.parametrize(
    ("cloud", "name"),
    [(cloud, "cmlt-x\n") for cloud in sorted(CLOUD_ARGS)]
    + [("lxd", "cmlt-x\r\n"), ("ssh", "\ncmlt-x")],
)
def test_a_name_with_a_line_break_is_refused(cli, tmp_path: Path, cloud: str, name: str) -> None:
    env = {**NOWHERE, "CMLINFRA_HOME": str(tmp_path / "home")}
    result = cli("stack", "render", "--cloud", cloud, "--name", name, *CLOUD_ARGS[cloud], env=env)
    assert_refused(result, "--name" if cloud != "aws" else "name")
    assert not any(tmp_path.rglob("*"))


@pytest.mark.parametrize("metadata", ["team\nx=ml", "a\x1b[31m=ml", "team=ml\nLD_PRELOAD=/x.so"])
@pytest.mark.parametrize("cloud", ["lxd", "aws"])
def test_labels_and_tags_with_a_line_break_are_refused(
    cli, tmp_path: Path, cloud: str, metadata: str
) -> None:
    env = {**NOWHERE, "CMLINFRA_HOME": str(tmp_path / "home")}
    args = ["stack", "render", "--cloud", cloud, "--name", "cmlt-meta", *CLOUD_ARGS[cloud]]
    result = cli(*args, "--cloud-metadata", metadata, env=env)
    assert_refused(result, "--cloud-metadata")
    assert not any(tmp_path.rglob("*"))


def test_a_number_only_unicode_calls_a_digit_is_no_crash(cli, forge, tmp_path: Path) -> None:
    forge.state.add_owner("github", "acme")
    env = {**NOWHERE, "CMLINFRA_HOME": str(tmp_path / "home"),
           "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    result = cli(
        "runner", "launch", "--cloud", "aws", "--name", "cmlt-group", "--runner-group", "\u00b2",
        "--driver", "github", "--repo", f"{forge.url}/acme", "--token", forge.token, env=env,
    )  # fmt: skip
    assert_refused(result)
    assert not (tmp_path / "home").exists()


def test_an_unwritable_stack_home_is_one_line(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"CMLINFRA_HOME": str(blocker / "home")}
    result = cli(
        "stack", "render", "--cloud", "ssh", "--name", "cmlt-home", *CLOUD_ARGS["ssh"], env=env
    )
    assert_refused(result, "cannot create the stack directory", "CMLINFRA_HOME")


@pytest.mark.lxd
def test_an_unwritable_runner_registry_is_one_line(lxd, cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"CMLINFRA_HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(blocker / "state")}
    name = lxd.name("registry")
    result = cli("exec", "--cloud", "lxd", "--name", name, "--", "true", env=env)
    assert_refused(result, "cannot write the runner registry", "--state")
    assert not lxd.exists(name)
    assert not (tmp_path / "home" / "stacks" / name).exists()


@pytest.mark.parametrize("token", ["токен-ghp-1234567890", "tok en", "tok\u00e9n-latin1"])
def test_a_token_no_forge_issues_is_refused(cli, forge, forge_repo, tmp_path, token) -> None:
    repo = forge_repo("github")
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    result = cli("comment", "create", str(report), "--token", token, env=repo.env())
    line = assert_refused(result, "not printable ASCII")
    assert token not in line
    assert forge.api_calls() == []


def test_blanks_around_a_pasted_token_are_dropped(cli, forge, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    env = repo.env(REPO_TOKEN=f"  {forge.token}\n")
    result = cli("comment", "create", str(report), "--target", f"commit/{repo.commit}", env=env)
    assert result.returncode == 0, result.stderr
    assert len(repo.comments()) == 1
