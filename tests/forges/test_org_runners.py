"""Runners shared by every repository of a GitHub organization, a GitLab group or a Bitbucket
workspace (``--repo https://github.com/ORG`` as in CML): registration material, listing and
removal at that level on the fake forge, whose every request is checked against the forge's
OpenAPI description."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.forges import connect
from cmlinfra.forges.context import detect
from cmlinfra.secrets import Secret
from tests.fixtures.forge import WEB

OWNER = {"github": "acme", "gitlab": "acme/platform", "bitbucket": "acme"}
SCOPE = {"github": "organization", "gitlab": "group", "bitbucket": "workspace"}
POOL_PATH = {
    "github": "/orgs/acme/actions/runners",
    "gitlab": "/api/v4/groups/{id}/runners",
    "bitbucket": "/2.0/workspaces/acme/pipelines-config/runners",
}


def owner_driver(forge_repo, kind: str, path: str | None = None):  # type: ignore[no-untyped-def]
    """A CI job in one repository (acme/ml…) that manages its owner's shared runners."""
    repo = forge_repo(kind, {"gitlab": "acme/platform/ml"}.get(kind, "acme/ml"))
    url = f"{WEB[kind]}/{path or OWNER[kind]}"
    context = detect(repo.env(), repo=url, owner_ok=True)
    return repo, context, connect(context)


@pytest.mark.parametrize("kind", ["github", "gitlab", "bitbucket"])
def test_owner_runner_register_list_remove(forge_repo, kind: str) -> None:
    repo, context, forge = owner_driver_with_owner(forge_repo, kind)
    # a GitLab subgroup path looks like a project's until the API is asked
    assert context.scope == {"gitlab": "project-or-group"}.get(kind, SCOPE[kind])
    pool = repo.server.state.owner(kind, OWNER[kind])

    reg = forge.runner_registration(name="cml-pool-1", labels=["cml", "gpu"])
    assert reg.scope == SCOPE[kind]
    assert isinstance(reg.token, Secret) and reg.token.reveal()
    assert [r.name for r in pool.runners.values()] == ["cml-pool-1"]
    assert repo.runners == []  # the repository's own runners are untouched
    if kind == "github":
        assert reg.url == "https://github.test/acme"  # what config.sh / the JIT runner joins
    if kind == "bitbucket":  # the agent's --accountUuid; a workspace runner has no repository
        assert reg.extra["account_uuid"] == pool.uuid and pool.uuid.startswith("{")
        assert "repository_uuid" not in reg.extra

    listed = forge.list_runners()
    assert [(r.id, r.name) for r in listed] == [(reg.runner_id, "cml-pool-1")]
    path = POOL_PATH[kind].replace("{id}", str(pool.id))
    assert any(c.path == path and c.method == "GET" for c in repo.server.api_calls(kind))

    forge.remove_runner(reg.runner_id)
    assert pool.runners == {} and forge.list_runners() == []


def owner_driver_with_owner(forge_repo, kind: str, path: str | None = None):  # type: ignore[no-untyped-def]
    repo, context, forge = owner_driver(forge_repo, kind, path)
    repo.server.state.add_owner(kind, path or OWNER[kind])
    return repo, context, forge


def test_github_organization_registration_token_for_config_sh(forge_repo) -> None:
    repo, _, forge = owner_driver_with_owner(forge_repo, "github")
    reg = forge.runner_registration(name="r", labels=["cml"], jit=False)
    assert (reg.kind, reg.url, reg.scope) == (
        "registration-token",
        f"{WEB['github']}/acme",
        "organization",
    )
    assert reg.token.reveal().startswith("AREG")
    calls = [c.path for c in repo.server.api_calls("github")]
    assert "/orgs/acme/actions/runners/registration-token" in calls


def test_gitlab_path_is_asked_of_the_api_project_first(forge_repo, caplog) -> None:
    """acme/platform/ml is a project, acme/platform a subgroup: the same URL shape, told apart
    by the API (project 404 → group), and the progress output says which."""
    repo = forge_repo("gitlab", "acme/platform/ml")
    group = repo.server.state.add_owner("gitlab", "acme/platform")
    caplog.set_level(logging.INFO, logger="cmlinfra")
    for path, where in (("acme/platform/ml", "project"), ("acme/platform", "group")):
        context = detect(repo.env(), repo=f"{WEB['gitlab']}/{path}", owner_ok=True)
        assert context.scope == "project-or-group"
        reg = connect(context).runner_registration(name=f"cml-{where}", labels=["cml"])
        assert reg.scope == ("group" if where == "group" else "repository")
        assert f"GitLab {path} is a {where}" in caplog.text
    assert [r.name for r in repo.runners] == ["cml-project"]
    assert [r.name for r in group.runners.values()] == ["cml-group"]


def test_gitlab_top_level_group_is_not_probed_as_a_project(forge_repo) -> None:
    repo = forge_repo("gitlab", "acme/platform/ml")
    repo.server.state.add_owner("gitlab", "acme")
    context = detect(repo.env(), repo=f"{WEB['gitlab']}/acme", owner_ok=True)
    assert context.scope == "group"
    connect(context).list_runners()
    assert not any("/projects/" in c.path for c in repo.server.api_calls("gitlab"))


def test_gitlab_subgroup_lists_only_its_own_runners_not_its_parents(forge_repo) -> None:
    """GitLab lists a subgroup's runners together with its ancestor groups' (the description
    says so; the fake does it): a sweep of acme/platform must never see acme's runners."""
    repo = forge_repo("gitlab", "acme/platform/ml")
    parent = repo.server.state.add_owner("gitlab", "acme")
    repo.server.state.add_owner("gitlab", "acme/platform")
    top = connect(detect(repo.env(), repo=f"{WEB['gitlab']}/acme", owner_ok=True))
    top.runner_registration(name="cml-parent", labels=["cml"])
    sub = connect(detect(repo.env(), repo=f"{WEB['gitlab']}/acme/platform", owner_ok=True))
    mine = sub.runner_registration(name="cml-sub", labels=["cml"])
    assert [(r.id, r.name) for r in sub.list_runners()] == [(mine.runner_id, "cml-sub")]
    assert [r.name for r in top.list_runners()] == ["cml-parent"]
    assert [r.name for r in parent.runners.values()] == ["cml-parent"]


def test_gitlab_path_that_is_neither_says_so(forge_repo) -> None:
    repo, _, forge = owner_driver(forge_repo, "gitlab", "acme/nothing")
    with pytest.raises(CmlinfraError, match="no GitLab project or group 'acme/nothing'"):
        forge.list_runners()
    assert repo.server.state.owners == {}


@pytest.mark.parametrize(
    ("kind", "pattern", "scope_named"),
    [
        ("github", "/orgs/acme/actions/runners", "admin:org"),
        ("github", "/orgs/acme/actions/runners", 'organization permission "Self-hosted runners'),
        ("gitlab", "/user/runners", "Owner role in the group"),
        ("bitbucket", "/workspaces/acme/", "runner:write"),
    ],
)
def test_refused_owner_runner_names_the_token_it_needs(
    forge_repo, kind: str, pattern: str, scope_named: str
) -> None:
    repo, _, forge = owner_driver_with_owner(forge_repo, kind)
    repo.server.fail(kind, "POST", pattern, 403, "Forbidden")
    with pytest.raises(CmlinfraError) as info:
        forge.runner_registration(name="r", labels=["cml"])
    line = info.value.line()
    assert "\n" not in line and scope_named in line and "403" in line
    assert repo.server.token not in line


@pytest.mark.parametrize(
    ("kind", "scope_named"),
    [("github", "admin:org"), ("gitlab", "Owner role in the group"), ("bitbucket", "runner:write")],
)
def test_rejected_token_for_owner_runners_names_the_token_it_needs(
    forge_repo, kind: str, scope_named: str
) -> None:
    _, context, _ = owner_driver_with_owner(forge_repo, kind, "acme")
    forge = connect(replace(context, token=Secret("not-the-token")))
    with pytest.raises(CmlinfraError) as info:
        forge.list_runners()
    line = info.value.line()
    assert "HTTP 401" in line and scope_named in line and "not-the-token" not in line


def test_gitlab_group_lookup_refusal_names_owner_not_maintainer(forge_repo) -> None:
    """acme/platform is asked of the API (project 404 → group): a 403 on the group itself is
    about group runners, which need Owner."""
    repo, _, forge = owner_driver_with_owner(forge_repo, "gitlab")
    repo.server.fail("gitlab", "GET", "/groups/", 403, "403 Forbidden")
    with pytest.raises(CmlinfraError) as info:
        forge.list_runners()
    line = info.value.line()
    assert "Owner role in the group" in line and "Maintainer" not in line


def test_unknown_bitbucket_workspace_says_workspace_not_repository(forge_repo) -> None:
    _, _, forge = owner_driver(forge_repo, "bitbucket", "nope")
    with pytest.raises(CmlinfraError) as info:
        forge.list_runners()
    line = info.value.line()
    assert line.startswith("no Bitbucket workspace 'nope', or the token cannot see it")
    assert "repository name" not in line and "runner:write" in line


def test_gitlab_project_runner_refusal_names_maintainer(forge_repo) -> None:
    repo = forge_repo("gitlab", "acme/platform/ml")
    repo.server.fail("gitlab", "POST", "/user/runners", 403, "403 Forbidden")
    with pytest.raises(CmlinfraError, match="Maintainer role in the project"):
        repo.driver().runner_registration(name="r", labels=["cml"])


def test_unknown_github_organization_is_a_one_line_error(forge_repo) -> None:
    repo, _, forge = owner_driver(forge_repo, "github", "nope")
    with pytest.raises(CmlinfraError) as info:
        forge.list_runners()
    assert info.value.line().startswith("no GitHub organization 'nope', or the token cannot see")
    assert "admin:org" in info.value.line()
    assert repo.server.state.owners == {}


# -- parsing the URL: the scope is part of the repository reference --------------------------
def test_owner_urls_and_enterprise_hosts() -> None:
    env = {"REPO_TOKEN": "t0ken-value"}
    org = detect(env, repo="https://github.com/acme", owner_ok=True)
    assert (org.scope, org.repo, org.repo_url) == (
        "organization",
        "acme",
        "https://github.com/acme",
    )
    assert org.api_url == "https://api.github.com"
    ghe = detect(env, driver="github", repo="https://ghe.example.com/acme/", owner_ok=True)
    assert (ghe.scope, ghe.api_url) == ("organization", "https://ghe.example.com/api/v3")
    alone = detect(
        {**env, "GITHUB_REPOSITORY": "acme/ml"}, repo="acme", owner_ok=True
    )  # in Actions: the driver is known, so ORG alone is unambiguous
    assert (alone.driver, alone.scope, alone.repo) == ("github", "organization", "acme")
    bb = detect(env, repo="https://bitbucket.org/acme", owner_ok=True)
    assert bb.scope == "workspace"
    gl = detect(env, repo="https://gitlab.com/acme", owner_ok=True)
    assert gl.scope == "group"
    assert detect(env, repo="https://gitlab.com/acme/sub", owner_ok=True).scope == (
        "project-or-group"
    )
    assert detect(env, repo="https://github.com/acme/ml", owner_ok=True).scope == "repository"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://github.com/acme/ml/tree/main", "has 4 path segments"),
        ("https://bitbucket.org/acme/ml/src", "has 3 path segments: .* and a workspace one"),
        ("https://github.com/ac%20me", "is not a github repository or organization URL"),
        ("https://gitlab.com/acme/../x", "is not a gitlab repository or group URL"),
    ],
)
def test_bad_owner_urls_are_one_line_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        detect({"REPO_TOKEN": "t"}, repo=url, owner_ok=True)
    assert "\n" not in info.value.line()


def test_commands_that_need_a_repository_refuse_an_organization() -> None:
    with pytest.raises(UsageError, match="names a github organization, not a repository"):
        detect({"REPO_TOKEN": "t"}, repo="https://github.com/acme")
    # a GitLab path of two segments is a project for everything but runners
    assert detect({"REPO_TOKEN": "t"}, repo="https://gitlab.com/acme/ml").scope == "repository"


def test_retarget_keeps_forge_and_token_but_not_another_host() -> None:
    repo = detect({"REPO_TOKEN": "t0ken-value"}, repo="https://github.com/acme/ml")
    org = repo.retarget("https://github.com/acme")
    assert org is not None and (org.scope, org.repo, org.api_url) == (
        "organization",
        "acme",
        "https://api.github.com",
    )
    assert org.token.reveal() == "t0ken-value"
    assert repo.retarget("https://gitlab.com/acme") is None


@pytest.mark.parametrize("given", ["3", "GPU pool", "gpu POOL"])
def test_runner_group_by_name_or_id_gives_the_jit_api_its_id_and_config_sh_its_name(
    forge_repo, given: str
) -> None:
    """The JIT API takes the group's id, ``config.sh --runnergroup`` its name, and GitHub's
    settings show names: either is looked up once in the organization's groups."""
    repo, context, _ = owner_driver_with_owner(forge_repo, "github")
    org = repo.server.state.owner("github", "acme")
    org.runner_groups[3] = "GPU pool"
    forge = connect(context.in_runner_group(given))
    forge.runner_registration(name="cml-g3", labels=["cml"])
    [runner] = org.runners.values()
    assert runner.group == 3
    reg = forge.runner_registration(name="cml-cfg", labels=["cml"], jit=False)
    assert reg.extra["runner_group"] == "GPU pool"  # config.sh --runnergroup takes the name
    lookups = [c for c in repo.server.api_calls("github") if c.path.endswith("/runner-groups")]
    assert len(lookups) == 1  # asked once, whatever the number of registrations


def test_unknown_runner_group_names_the_groups_there_are(forge_repo) -> None:
    repo, context, _ = owner_driver_with_owner(forge_repo, "github")
    repo.server.state.owner("github", "acme").runner_groups[3] = "GPU pool"
    with pytest.raises(CmlinfraError) as info:
        connect(context.in_runner_group("gpus")).check_runner_access()
    assert info.value.line() == (
        "no runner group 'gpus' in GitHub organization acme; pass --runner-group with one of "
        "its groups, by name or id: Default (1), GPU pool (3)"
    )
    connect(context).check_runner_access()  # no group given: the runner listing only
    calls = [c.path.rsplit("/", 1)[-1] for c in repo.server.api_calls("github")]
    assert calls == ["runners", "runner-groups", "runners"]


def test_runner_group_is_for_github_organizations_only(forge_repo) -> None:
    repo, context, _ = owner_driver_with_owner(forge_repo, "github")
    assert context.in_runner_group("") is context
    for other in (repo.context(), detect(repo.env(), repo=f"{WEB['github']}/acme/ml")):
        with pytest.raises(UsageError) as info:
            other.in_runner_group("3")
        assert info.value.line().startswith(
            "--runner-group 3 needs a GitHub organization, and https://github.test/acme/ml is "
            "a github repository; "
        )
    with pytest.raises(UsageError, match="--runner-group 0 is not a runner group id"):
        context.in_runner_group("0")
