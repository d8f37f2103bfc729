"""What terraform (and every provider and provisioner it starts) sees of our environment: no
forge or CI job token, whatever the CI job exported. Real terraform: a built-in
``terraform_data`` resource whose ``local-exec`` provisioner writes out its environment."""

from __future__ import annotations

import pytest

from cmlinfra.forges.tokens import TOKEN_VARS
from cmlinfra.terraform import LocalBackend
from tests.terraform.conftest import workspace

TOKENS = ("REPO_TOKEN", "GITHUB_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "BITBUCKET_TOKEN")


def test_forge_tokens_never_reach_terraform_or_its_children(tf_latest, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    for name in TOKENS:
        monkeypatch.setenv(name, f"secret-{name.lower()}")
    monkeypatch.setenv("AWS_PROFILE", "kept")  # cloud credentials are terraform's to use
    dump = tmp_path / "env.txt"
    config = {
        "resource": {
            "terraform_data": {
                "probe": {"provisioner": [{"local-exec": {"command": f"env > '{dump}'"}}]}
            }
        }
    }
    ws = workspace(tf_latest, tmp_path / "stack", LocalBackend(tmp_path / "tfstate"), config)
    ws.init()
    ws.plan()
    ws.apply()
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert seen["AWS_PROFILE"] == "kept" and seen["TF_IN_AUTOMATION"] == "1"
    assert sorted(set(TOKENS) & set(seen)) == []
    assert "secret-" not in dump.read_text()


@pytest.mark.parametrize("driver", sorted(TOKEN_VARS))
def test_every_token_variable_a_forge_reads_is_dropped(driver: str) -> None:
    from cmlinfra.secrets import FORGE_TOKEN_VARIABLES

    assert set(TOKEN_VARS[driver]) <= FORGE_TOKEN_VARIABLES
