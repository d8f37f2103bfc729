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
