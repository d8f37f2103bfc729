"""The fake GitHub's runner endpoints, for a repository's runners and an organization's pool
(``/orgs/{org}/actions/…``, with its runner groups): JIT config, registration token, list,
delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.forge_server.messages import Invalid, NotFound, Reply, Req
from tests.forge_server.state import Owner, Repo, StoredRunner

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer


def _repo(server: ForgeServer, req: Req) -> Repo:
    from tests.forge_server.github import _repo as repo_of

    return repo_of(server, req)


def _runner(r: StoredRunner) -> dict[str, Any]:
    labels = [{"id": i + 1, "name": name, "type": "custom"} for i, name in enumerate(r.labels)]
    return {
        "id": r.id,
        "name": r.name,
        "os": "linux",
        "status": r.status,
        "busy": r.busy,
        "labels": labels,
    }


def _pool(server: ForgeServer, req: Req) -> Repo | Owner:
    """Whose runners: the repository's, or the organization's (``/orgs/{org}/…``)."""
    if "org" not in req.params:
        return _repo(server, req)
    org = server.state.owner("github", req.params["org"])
    if org is None:
        raise NotFound("Not Found")
    return org


def jit_config(server: ForgeServer, req: Req) -> Reply:
    repo = _pool(server, req)
    data = req.json()
    if any(r.name == data["name"] for r in repo.runners.values()):
        raise Invalid("Already exists - A runner with the name already exists.")
    runner = StoredRunner(server.state.next_id(), data["name"], list(data["labels"]), "")
    runner.token = f"jitconfig-{runner.id}-c2VjcmV0LWppdC1jb25maWc"
    runner.group = int(data["runner_group_id"])
    if isinstance(repo, Owner) and runner.group not in repo.runner_groups:
        raise NotFound("Not Found")
    repo.runners[runner.id] = runner
    return Reply(201, {"runner": _runner(runner), "encoded_jit_config": runner.token})


def registration_token(server: ForgeServer, req: Req) -> Reply:
    _pool(server, req)
    return Reply(
        201,
        {"token": f"AREGTOKEN{server.state.next_id()}XYZ", "expires_at": "2026-01-01T01:00:00Z"},
    )


def list_runners(server: ForgeServer, req: Req) -> Reply:
    repo = _pool(server, req)
    runners = [_runner(r) for r in repo.runners.values()]
    return Reply(200, {"total_count": len(runners), "runners": runners})


def list_runner_groups(server: ForgeServer, req: Req) -> Reply:
    org = _pool(server, req)
    assert isinstance(org, Owner)
    groups = [
        {
            "id": gid,
            "name": name,
            "visibility": "all",
            "default": gid == 1,
            "runners_url": f"https://api.github.com/orgs/{org.name}/actions/runner-groups/{gid}"
            "/runners",
            "inherited": False,
            "allows_public_repositories": False,
        }
        for gid, name in sorted(org.runner_groups.items())
    ]
    return Reply(200, {"total_count": len(groups), "runner_groups": groups})


def delete_runner(server: ForgeServer, req: Req) -> Reply:
    repo = _pool(server, req)
    if repo.runners.pop(int(req.params["runner_id"]), None) is None:
        raise NotFound("Not Found")
    return Reply(204)
