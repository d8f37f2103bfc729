"""The `cml` front: CML's deprecated spellings, its global options anywhere, its environment
(legacy prefixes, the global fan-out, RUNNER_*, repo_token) and the warning for variables no
option reads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cmlinfra.cli import cml
from cmlinfra.errors import CmlinfraError
from tests.fixtures.cli import cli_env


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["publish", "plot.png", "--md"], ["asset", "publish", "plot.png", "--md"]),
        (["send-comment", "r.md"], ["comment", "create", "r.md"]),
        (["send-github-check", "r.md"], ["check", "create", "r.md"]),
        (["rerun-workflow", "--id", "1"], ["workflow", "rerun", "--id", "1"]),
        (["runner", "--cloud=aws"], ["runner", "launch", "--cloud=aws"]),
        (["runner", "--help"], ["runner", "--help"]),
        (["runner", "list"], ["runner", "list"]),
        (["pr", "--squash", "."], ["pr", "create", "--squash", "."]),
        (["pr", "create", "."], ["pr", "create", "."]),
        (["repo", "prepare", "--fetch-depth=0"], ["ci", "--fetch-depth=0"]),
        # global options: --log anywhere to the root, CML's globals to the command
        (["comment", "create", "r.md", "--log", "debug"],
         ["--log=debug", "comment", "create", "r.md"]),
        (["--driver", "github", "--repo=https://x/a/b", "comment", "update", "r.md"],
         ["comment", "update", "r.md", "--driver=github", "--repo=https://x/a/b"]),
        (["--driver-token", "t", "exec", "--", "echo", "--log", "x"],
         ["exec", "--token=t", "--", "echo", "--log", "x"]),
        # yargs booleans
        (["comment", "create", "--publish=false", "--pr=false", "r.md"],
         ["comment", "create", "--no-publish", "r.md"]),
        (["comment", "create", "--md=true", "--no-pr", "r.md"],
         ["comment", "create", "--md", "r.md"]),
    ],
)  # fmt: skip
def test_translate(given: list[str], expected: list[str]) -> None:
    assert cml.translate(given).argv == expected


def test_deprecated_commands_carry_cmls_notice_and_tensorboard_is_gone() -> None:
    assert cml.translate(["send-comment", "r.md"]).notices == [
        '"cml send-comment" is deprecated, please use "cml comment create"'
    ]
    for argv in (["tensorboard-dev", "--logdir", "x"], ["tensorboard", "connect"]):
        with pytest.raises(CmlinfraError, match="shut down at the end of 2023"):
            cml.translate(argv)


def test_environment_is_aliased_as_cml_does() -> None:
    env = {
        "CML_PUBLISH_MD": "true",
        "CML_SEND_COMMENT_TARGET": "pr",
        "CML_REPO_USER_NAME": "bot",
        "CML_DRIVER": "gitlab",
        "CML_TOKEN": "t",
        "RUNNER_LABELS": "gpu",
        "repo_token": "lower",
    }
    given = cml.alias_environment(env)
    assert "RUNNER_LABELS" in given and "repo_token" not in given
    assert env["CML_ASSET_MD"] == "true" and env["CML_COMMENT_TARGET"] == "pr"
    assert env["CML_CI_USER_NAME"] == "bot" and env["CML_RUNNER_LABELS"] == "gpu"
    assert env["CML_COMMENT_DRIVER"] == env["CML_RUNNER_DRIVER"] == "gitlab"
    assert env["CML_PR_TOKEN"] == "t" and env["REPO_TOKEN"] == "lower"


def _cml(*args: str, env: dict[str, str], program: str = "cml") -> subprocess.CompletedProcess[str]:
    code = f"from cmlinfra.cli.cml import {program.replace('-', '_')} as f; f()"
    return subprocess.run([sys.executable, "-c", code, *args], env=cli_env(env),
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_cml_token_reaches_every_command_and_unread_variables_are_named(forge_repo, tmp_path):
    repo = forge_repo("github")
    repo.add_pr()
    (tmp_path / "r.md").write_text("# r\n")
    env = {k: v for k, v in repo.env().items() if k != "REPO_TOKEN"}
    env |= {"CML_TOKEN": repo.server.token, "CML_COMMENT_NOPE": "1", "DOCKER_MACHINE": "x"}
    result = _cml("comment", "create", str(tmp_path / "r.md"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("cmlinfra: warning:") == 1
    assert "CML_COMMENT_NOPE, DOCKER_MACHINE are set but no cmlinfra option reads them" in (
        result.stderr
    )
    assert len(repo.comments()) == 1


@pytest.mark.parametrize(
    ("program", "usage"),
    [
        ("cml-runner", "cml runner"),
        ("cml-send-comment", "cml comment create"),
        ("cml-publish", "cml asset publish"),
        ("cml-send-github-check", "cml check create"),
        ("cml-pr", "cml pr"),
    ],
)
def test_cml_link_executables(program: str, usage: str) -> None:
    result = _cml("--help", env={}, program=program)
    assert result.returncode == 0, result.stderr
    assert f"Usage: {usage}" in result.stdout


def test_cml_tensorboard_dev_executable_says_why_in_one_line() -> None:
    result = _cml("--logdir", "logs", env={}, program="cml-tensorboard-dev")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "cmlinfra: error: " + "; ".join(cml.TENSORBOARD_GONE)
    ]


def test_short_forms_of_cmls_asset_options() -> None:
    from tests.examples.cli_lines import parse

    argv = cml.translate(["publish", "plot.png", "--md", "-t", "Loss", "-f", "report.md"]).argv
    assert argv[:2] == ["asset", "publish"] and parse(argv) == "asset publish"
