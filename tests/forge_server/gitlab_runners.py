"""The fake GitLab's runner endpoints: create (``POST /user/runners``), list and delete, for
project and group runners, and the group lookup the driver makes when a path is not a project
(groups exist here only as runner pools)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.forge_server.messages import Invalid, NotFound, Reply, Req
from tests.forge_server.state import Owner, Repo, StoredRunner

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

G = "/api/v4/groups/{id}"


def _repo(server: ForgeServer, req: Req) -> Repo:
    from tests.forge_server.gitlab import _repo as repo_of

    return repo_of(server, req)


def _page(req: Req, items: list[Any]) -> Reply:
    from tests.forge_server.gitlab import _page as page

    return page(req, items)


def _group(server: ForgeServer, req: Req) -> Owner:
    group = server.state.owner("gitlab", req.params["id"])
    if group is None:
        raise NotFound("404 Group Not Found")
    return group


def get_group(server: ForgeServer, req: Req) -> Reply:
    group = _group(server, req)
    return Reply(
        200,
        {
            "id": group.id,
            "name": group.name.rsplit("/", 1)[-1],
            "path": group.name.rsplit("/", 1)[-1],
            "full_path": group.name,
            "web_url": f"{server.gitlab_web}/groups/{group.name}",
        },
    )


def _runner(r: StoredRunner, kind: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "description": r.name,
        "status": r.status,
        "job_execution_status": "active" if r.busy else "idle",
        "runner_type": kind,
        "paused": False,
        "is_shared": False,
        "tag_list": r.labels,
    }


def create_runner(server: ForgeServer, req: Req) -> Reply:
    """A project runner (``project_id``) or a group runner (``group_id``), as GitLab checks."""
    data = req.json()
    kind = data.get("runner_type")
    pool: Repo | Owner | None
    if kind == "project_type" and data.get("project_id"):
        pool = next(
            (
                r
                for (f, _), r in server.state.repos.items()
                if f == "gitlab" and r.id == data["project_id"]
            ),
            None,
        )
    elif kind == "group_type" and data.get("group_id"):
        pool = server.state.owner("gitlab", str(data["group_id"]))
    else:
        raise Invalid(f"runner_type {kind} needs a {str(kind).split('_')[0]}_id")
    if pool is None:
        raise Invalid(f"{str(kind).split('_')[0]}_id is invalid")
    runner = StoredRunner(
        server.state.next_id(), data.get("description", ""), data.get("tag_list") or [], ""
    )
    runner.token = f"glrt-{runner.id}-RUNNERSECRET"
    pool.runners[runner.id] = runner
    return Reply(201, {"id": str(runner.id), "token": runner.token})


def _ancestors(server: ForgeServer, path: str) -> list[Owner]:
    """The groups above ``path`` (a/b/c → a, a/b) that exist here, outermost first."""
    parts = path.split("/")
    found = [server.state.owner("gitlab", "/".join(parts[:n])) for n in range(1, len(parts))]
    return [group for group in found if group is not None]


def list_runners(server: ForgeServer, req: Req) -> Reply:
    """As GitLab lists them: a group's (or project's) own runners *and* its ancestor groups'
    group runners (the description says so), narrowed by ``type`` when given."""
    wanted = req.query.get("type")
    if req.template.startswith(G):
        group = _group(server, req)
        own, kind, path = group.runners.values(), "group_type", group.name
    else:
        repo = _repo(server, req)
        own, kind, path = repo.runners.values(), "project_type", repo.name
    items = [_runner(r, kind) for r in own]
    for ancestor in _ancestors(server, path):
        items += [_runner(r, "group_type") for r in ancestor.runners.values()]
    return _page(req, [r for r in items if not wanted or r["runner_type"] == wanted])


def get_runner(server: ForgeServer, req: Req) -> Reply:
    """A runner's details: ``groups`` / ``projects`` say whose it is."""
    runner_id = int(req.params["id"])
    for pool in [*server.state.repos.values(), *server.state.owners.values()]:
        runner = pool.runners.get(runner_id) if pool.forge == "gitlab" else None
        if runner is None:
            continue
        group = isinstance(pool, Owner)
        where = {"id": pool.id, "web_url": f"{server.gitlab_web}/{pool.name}", "name": pool.name}
        return Reply(
            200,
            {
                **_runner(runner, "group_type" if group else "project_type"),
                "groups": [where] if group else [],
                "projects": [] if group else [where],
            },
        )
    raise NotFound("404 Runner Not Found")


def delete_runner(server: ForgeServer, req: Req) -> Reply:
    runner_id = int(req.params["id"])
    pools = [*server.state.repos.values(), *server.state.owners.values()]
    for pool in pools:
        if pool.forge == "gitlab" and pool.runners.pop(runner_id, None) is not None:
            return Reply(204)
    raise NotFound("404 Runner Not Found")
