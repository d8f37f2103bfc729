"""Runner registration material, listing and removal on each forge (what `runner launch`
and the idle/teardown path use)."""

from __future__ import annotations

import pytest

from cmlinfra.secrets import Secret

FORGES = ["github", "gitlab", "bitbucket"]
KINDS = {"github": "jit-config", "gitlab": "runner-token", "bitbucket": "oauth-client"}


@pytest.mark.parametrize("kind", FORGES)
def test_register_list_remove(forge_repo, kind) -> None:
    repo = forge_repo(kind)
    forge = repo.driver()
    reg = forge.runner_registration(name="cml-gpu-1", labels=["cml", "gpu"])
    assert reg.kind == KINDS[kind]
    assert isinstance(reg.token, Secret) and reg.token.reveal()
    assert reg.token.reveal() not in repr(reg) + str(reg)
    assert [r.name for r in repo.runners] == ["cml-gpu-1"]
    assert repo.runners[0].token == reg.token.reveal()

    listed = forge.list_runners()
    assert [r.id for r in listed] == [reg.runner_id]
    assert listed[0].name == "cml-gpu-1"
    if kind != "gitlab":  # GitLab's runner listing carries no tags
        assert {"cml", "gpu"} <= set(listed[0].labels)

    repo.set_runner("cml-gpu-1", status="online", busy=True)
    [seen] = forge.list_runners()
    assert (seen.status, seen.busy) == ("online", kind != "bitbucket")  # Bitbucket: no busy flag

    forge.remove_runner(reg.runner_id)
    assert repo.runners == [] and forge.list_runners() == []


def test_github_registration_token_for_config_sh(forge_repo) -> None:
    repo = forge_repo("github")
    reg = repo.driver().runner_registration(name="r", labels=["cml"], jit=False)
    assert reg.kind == "registration-token" and reg.runner_id == ""
    assert reg.token.reveal().startswith("AREG") and reg.expires_at


def test_github_jit_needs_a_label_so_one_is_given(forge_repo) -> None:
    repo = forge_repo("github")
    repo.driver().runner_registration(name="r", labels=[])
    assert repo.runners[0].labels == ["cml"]


def test_removing_an_unknown_runner_is_a_clear_error(forge_repo) -> None:
    from cmlinfra.errors import CmlinfraError

    repo = forge_repo("github")
    with pytest.raises(CmlinfraError, match="not found"):
        repo.driver().remove_runner("999999")


def test_runner_admin_without_permission_says_what_token_to_use(forge_repo) -> None:
    from cmlinfra.errors import CmlinfraError

    repo = forge_repo("github")
    repo.server.fail(
        "github", "POST", "/actions/runners/", 403, "Resource not accessible by integration"
    )
    with pytest.raises(CmlinfraError, match="administration: write") as info:
        repo.driver().runner_registration(name="r", labels=["cml"])
    assert "GITHUB_TOKEN cannot" in info.value.line()


def test_secrets_never_reach_logs(forge_repo, caplog) -> None:
    import logging

    from cmlinfra.ui import configure_logging

    configure_logging("debug")
    logger = logging.getLogger("cmlinfra")
    logger.addHandler(caplog.handler)
    repo = forge_repo("github")
    reg = repo.driver().runner_registration(name="r", labels=["cml"])
    logger.info("registered %s with %s", reg, reg.token.reveal())
    assert reg.token.reveal() not in caplog.text
    assert repo.server.token not in caplog.text


def test_bitbucket_runner_carries_its_workspace_and_repository_uuids(forge_repo) -> None:
    """The agent starts with --accountUuid (the workspace's) and --repositoryUuid: both are
    asked of the API before the runner is created, in one call."""
    repo = forge_repo("bitbucket", "acme/ml")
    reg = repo.driver().runner_registration(name="cml-gpu-1", labels=["cml"])
    state = repo.state
    assert reg.extra["account_uuid"] == state.owner_uuid
    assert reg.extra["repository_uuid"] == state.uuid
    assert state.uuid != state.owner_uuid and state.uuid.startswith("{")
    calls = [(c.method, c.path) for c in repo.server.api_calls("bitbucket")]
    assert calls[:2] == [
        ("GET", "/2.0/repositories/acme/ml"),
        ("POST", "/2.0/repositories/acme/ml/pipelines-config/runners"),
    ]
    # the same workspace answers with the same UUID when asked directly
    workspace = repo.server.state.add_owner("bitbucket", "acme")
    assert workspace.uuid == state.owner_uuid


@pytest.mark.parametrize("where", ["repository", "workspace"])
def test_bitbucket_uuid_lookup_failure_leaves_no_runner(forge_repo, where: str) -> None:
    from cmlinfra.errors import CmlinfraError
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect
    from tests.fixtures.forge import WEB

    repo = forge_repo("bitbucket", "acme/ml")
    if where == "repository":
        repo.server.fail("bitbucket", "GET", r"^/repositories/acme/ml$", 404, "Not found")
        forge = repo.driver()
    else:  # no workspace "acme" on the fake: its GET answers 404
        forge = connect(detect(repo.env(), repo=f"{WEB['bitbucket']}/acme", owner_ok=True))
    with pytest.raises(CmlinfraError) as info:
        forge.runner_registration(name="cml-gpu-1", labels=["cml"])
    line = info.value.line()
    assert "\n" not in line and "HTTP 404" in line and repo.server.token not in line
    assert repo.runners == [] and repo.server.state.owners == {}
    assert [c.method for c in repo.server.api_calls("bitbucket")] == ["GET"]
