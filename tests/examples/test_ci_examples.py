"""The composite action and the example CI files: valid YAML, consistent, and every
``cmlinfra`` command line in them parses against the real CLI of this checkout — so a renamed
command or option breaks this test, not a user's pipeline."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.examples.cli_lines import EXPRESSION, BadCommandLine, command_lines, parse

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
GITHUB = sorted((ROOT / "examples" / "github").glob("*.yml"))
GITLAB = ROOT / "examples" / "gitlab" / ".gitlab-ci.yml"
ALL_FILES = [ACTION, *GITHUB, GITLAB]


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    if True in data:  # YAML 1.1 reads GitHub's `on:` key as the boolean true
        data["on"] = data.pop(True)
    return data


def _github_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job["steps"]]


def _gitlab_scripts(pipeline: dict[str, Any]) -> list[tuple[str, str]]:
    scripts = []
    for name, job in pipeline.items():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                scripts += [(name, line) for line in job.get(key, [])]
    return scripts


def _shell_snippets() -> list[tuple[str, str]]:
    """(where, shell text) for every run step and script line of every file."""
    snippets = [
        (f"action.yml:{s.get('name', '?')}", s["run"])
        for s in _load(ACTION)["runs"]["steps"]
        if "run" in s
    ]
    for path in GITHUB:
        snippets += [
            (f"{path.name}:{job}", step["run"])
            for job, step in _github_steps(_load(path))
            if "run" in step
        ]
    snippets += [(f".gitlab-ci.yml:{job}", line) for job, line in _gitlab_scripts(_load(GITLAB))]
    return snippets


CMLINFRA_LINES = [
    pytest.param(argv, id=f"{where}:{' '.join(argv[:2])}")
    for where, text in _shell_snippets()
    for argv in command_lines(text)
]


def test_the_examples_cover_the_documented_commands() -> None:
    used = {" ".join(a.values[0][:2]) for a in CMLINFRA_LINES}
    for command in ("stack plan", "runner launch", "comment update", "report build", "gc --cloud"):
        assert command in used, f"no example uses cmlinfra {command}"


@pytest.mark.parametrize("argv", CMLINFRA_LINES)
def test_command_line_parses_with_the_real_cli(argv: list[str]) -> None:
    try:
        assert parse(argv)
    except BadCommandLine as exc:
        pytest.fail(f"`cmlinfra {' '.join(argv)}` would fail in CI: {exc}")


def test_the_checker_rejects_what_ci_would_reject() -> None:
    assert command_lines("set -e; x=1 && A=b cmlinfra gc --yes | tee log # cmlinfra nope") == [
        ["gc", "--yes"]
    ]
    assert command_lines("pip install cmlinfra && echo cmlinfra") == []
    assert command_lines("cmlinfra asset publish --md x.png >> report.md") == [
        ["asset", "publish", "--md", "x.png"]
    ]
    assert command_lines("cmlinfra runner launch \\\n  --labels ${{ inputs.l }} --x $Y") == [
        ["runner", "launch", "--labels", "1", "--x", "1"]
    ]
    with pytest.raises(BadCommandLine, match="No such"):
        parse(["launch-rockets"])
    with pytest.raises(BadCommandLine, match="No such"):
        parse(["--no-such-global-option"])


def test_action_inputs_are_declared_and_used() -> None:
    action = _load(ACTION)
    declared = set(action["inputs"])
    body = yaml.safe_dump(action["runs"])
    used = {m.split(".", 1)[1] for m in _expressions(body, "inputs.")}
    assert used == declared, (
        f"declared but unused: {declared - used}; undeclared: {used - declared}"
    )
    assert action["runs"]["using"] == "composite"
    step_ids = {s.get("id") for s in action["runs"]["steps"]}
    for output in action["outputs"].values():
        (ref,) = _expressions(output["value"], "steps.")
        assert ref.split(".")[1] in step_ids


def _expressions(text: str, prefix: str) -> set[str]:
    refs = set()
    for expr in EXPRESSION.findall(text):
        refs |= {w.rstrip("}") for w in expr.replace("(", " ").split() if w.startswith(prefix)}
    return refs


def test_action_never_interpolates_inputs_into_shell() -> None:
    """Inputs reach scripts through env: `${{ inputs.x }}` inside `run:` is script injection."""
    for step in _load(ACTION)["runs"]["steps"]:
        assert not EXPRESSION.search(step.get("run", "")), step.get("name")


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_github_workflow_shape(path: Path) -> None:
    workflow = _load(path)
    assert workflow["on"] and workflow["jobs"]
    assert "pull_request_target" not in workflow["on"]  # never run fork code with secrets
    assert workflow["permissions"] == {}  # nothing by default: each job asks for its own
    for job_id, job in workflow["jobs"].items():
        assert job["permissions"]["contents"] == "read", job_id
    inputs = set(_load(ACTION)["inputs"])
    for job_id, step in _github_steps(workflow):
        if step.get("uses", "").startswith("cmlinfra/cmlinfra@"):
            assert set(step.get("with", {})) <= inputs, (job_id, step)
        # secrets travel as environment variables, never as command-line arguments
        assert "secrets." not in step.get("run", ""), (path.name, job_id)
    uses_action = [
        s for _, s in _github_steps(workflow) if "cmlinfra/cmlinfra@" in s.get("uses", "")
    ]
    assert uses_action, "every example installs cmlinfra through the action"


def _labels(argv: list[str]) -> set[str]:
    return set(argv[argv.index("--labels") + 1].split(",")) if "--labels" in argv else set()


def test_github_training_job_runs_on_the_launched_runner() -> None:
    workflow = _load(ROOT / "examples" / "github" / "train.yml")
    launch = next(
        a
        for _, s in _github_steps(workflow)
        for a in command_lines(s.get("run", ""))
        if a[:2] == ["runner", "launch"]
    )
    train = workflow["jobs"]["train"]
    assert train["needs"] == "launch-runner"
    assert set(train["runs-on"]) == {"self-hosted", *_labels(launch)}


def test_gitlab_training_job_runs_on_the_launched_runner() -> None:
    pipeline = _load(GITLAB)
    (launch,) = [
        a for _, line in _gitlab_scripts(pipeline) for a in command_lines(line) if a[0] == "runner"
    ]
    assert set(pipeline["train"]["tags"]) == _labels(launch)
    assert pipeline["train"]["needs"] == ["launch-runner"]
    assert set(pipeline["stages"]) >= {j["stage"] for j in pipeline.values() if "stage" in j}
    gc_rules = pipeline["gc"]["rules"]
    assert gc_rules == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]


@pytest.mark.parametrize("where,text", _shell_snippets(), ids=lambda v: str(v)[:40])
def test_shell_snippets_pass_shellcheck(where: str, text: str) -> None:
    script = "#!/usr/bin/env bash\n" + EXPRESSION.sub("placeholder", text)
    result = subprocess.run(
        ["shellcheck", "-s", "bash", "-"], input=script, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{where}:\n{result.stdout}"
