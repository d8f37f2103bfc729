"""``workflow rerun`` on Bitbucket: a finished pipeline started again as a new one with its
target (Bitbucket re-runs nothing in place), through the real command and the fake Bitbucket,
which checks every request and answer against Atlassian's OpenAPI description."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.forge import fake_sha
from tests.forge_server.bitbucket_pipelines import plant, step


def test_a_finished_pipeline_runs_again_with_its_target(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("bitbucket")
    commit = fake_sha("trained")
    old = plant(
        repo.state,
        7,
        commit,
        selector={"type": "custom", "pattern": "train-gpu"},
        steps=[step("launch"), step("train", "FAILED")],
        variables=[
            {"key": "EPOCHS", "value": "3"},
            {"key": "HF_TOKEN", "value": "hf-secret-7c1", "secured": True},
        ],
    )
    result = cli("workflow", "rerun", "--id", old.uuid, cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    assert [p.build_number for p in repo.state.pipelines] == [7, 8]
    new = repo.state.pipelines[-1]
    assert new.target == {
        "type": "pipeline_ref_target",
        "ref_type": "branch",
        "ref_name": "main",
        "commit": {"type": "commit", "hash": commit},
        "selector": {"type": "custom", "pattern": "train-gpu"},
    }
    assert new.variables == [{"key": "EPOCHS", "value": "3"}]  # a secured value is unreadable
    assert result.stdout.strip() == (
        "re-ran pipeline 7 as pipeline 8 (without its secured variables HF_TOKEN (Bitbucket "
        "never shows their values; set them as repository or deployment variables)): "
        "https://bitbucket.org/ws/demo/pipelines/results/8"
    )

    again = cli("--json", "workflow", "rerun", "--id", "8", cwd=tmp_path, env=repo.env())
    assert again.returncode != 0 and "pipeline 8 has not finished (PENDING)" in again.stderr
    new.state, new.result = "COMPLETED", "SUCCESSFUL"
    again = cli("--json", "workflow", "rerun", "--id", "8", cwd=tmp_path, env=repo.env())
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)
    assert (answer["rerun"], answer["rerun_of"], answer["pipeline"]) == ("8", "8", "9")
    assert answer["uuid"] == repo.state.pipelines[-1].uuid
    assert repo.state.pipelines[-1].target == new.target


def test_a_pull_request_pipeline_runs_again_for_that_pull_request(
    cli, forge_repo, tmp_path
) -> None:
    repo = forge_repo("bitbucket")
    head, base = fake_sha("head"), fake_sha("base")
    target = {
        "type": "pipeline_pullrequest_target",
        "source": "feature",
        "destination": "main",
        "destination_commit": {"hash": base},
        "commit": {"type": "commit", "hash": head},
        "pullrequest": {"type": "pullrequest", "id": 3, "title": "Train"},
        "selector": {"type": "pull-requests", "pattern": "**"},
    }
    old = plant(repo.state, 4, head, target=target, result="STOPPED")
    result = cli("workflow", "rerun", "--id", old.uuid.strip("{}"), env=repo.env())
    assert result.returncode == 0, result.stderr
    assert repo.state.pipelines[-1].target == {
        **target,
        "destination_commit": {"type": "commit", "hash": base},
        "pullrequest": {"id": "3"},  # what the create takes
    }


@pytest.mark.parametrize("state", ["IN_PROGRESS", "PENDING"])
def test_a_running_pipeline_is_refused_and_nothing_started(
    cli, forge, forge_repo, tmp_path, state: str
) -> None:
    repo = forge_repo("bitbucket")
    plant(repo.state, 5, fake_sha("c"), state=state, steps=[step("train", state=state)])
    result = cli("workflow", "rerun", "--id", "5", cwd=tmp_path, env=repo.env())
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"cmlinfra: error: pipeline 5 has not finished ({state}): a new one now would run the "
        "same steps twice; wait until it ends, or stop it in Bitbucket first"
    ]
    assert len(repo.state.pipelines) == 1
    assert [c.method for c in forge.api_calls()] == ["GET"]


@pytest.mark.parametrize(
    "bad",
    [
        "../../../../user",
        "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}/../../x",
        "{1b4e28ba-2fa1-11d2-883f}",
        "{{1b4e28ba-2fa1-11d2-883f-0016d3cca427}}",
        "\uff11\uff12",  # fullwidth digits, which str.isdigit() takes for a number
        "-5",
    ],
)
def test_a_bad_id_is_refused_before_any_request(cli, forge, forge_repo, bad: str) -> None:
    repo = forge_repo("bitbucket")
    result = cli("workflow", "rerun", "--id", bad, env=repo.env())
    assert result.returncode == 2
    assert "is neither a pipeline UUID nor a build number" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert forge.api_calls() == []


def test_an_unknown_pipeline_and_no_id_say_what_to_give(cli, forge, forge_repo) -> None:
    repo = forge_repo("bitbucket")
    result = cli("workflow", "rerun", "--id", "41", env=repo.env())
    assert result.returncode == 1 and "no pipeline 41 in ws/demo" in result.stderr
    assert "check --id" in result.stderr
    result = cli("workflow", "rerun", env=repo.env())
    assert result.returncode == 2 and "pass --id RUN_ID" in result.stderr
    plant(repo.state, 3, fake_sha("c"), result="ERROR")  # in CI: this pipeline's number
    result = cli("workflow", "rerun", env=repo.env(BITBUCKET_BUILD_NUMBER="3"))
    assert result.returncode == 0, result.stderr
    assert "re-ran pipeline 3 as pipeline 4: https://" in result.stdout
