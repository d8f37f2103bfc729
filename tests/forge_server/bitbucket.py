"""The Bitbucket Cloud endpoints cmlinfra's driver calls (paths as in Atlassian's OpenAPI 3,
served under ``/2.0``); pipelines in bitbucket_pipelines.py."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.forge_server import bitbucket_pipelines
from tests.forge_server.messages import Invalid, NotFound, Reply, Req
from tests.forge_server.state import Owner, Repo, StoredComment, StoredPR, StoredRunner

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

B = "/repositories/{workspace}/{repo_slug}"
W = "/workspaces/{workspace}"
WEB = "https://bitbucket.test"


def _repo(server: ForgeServer, req: Req) -> Repo:
    repo = server.state.repo("bitbucket", f"{req.params['workspace']}/{req.params['repo_slug']}")
    if repo is None:
        raise NotFound("Repository not found")
    return repo


def _page(req: Req, items: list[Any]) -> Reply:
    """Bitbucket pagination: ``pagelen``/``page`` and a ``next`` URL in the body."""
    pagelen = int(req.query.get("pagelen", 10))
    page = int(req.query.get("page", 1))
    body: dict[str, Any] = {
        "values": items[(page - 1) * pagelen : page * pagelen],
        "page": page,
        "pagelen": pagelen,
        "size": len(items),
    }
    if page * pagelen < len(items):
        body["next"] = f"{req.request.base_url}?pagelen={pagelen}&page={page + 1}"
    return Reply(200, body)


def _pull(repo: Repo, pr: StoredPR) -> dict[str, Any]:
    return {
        "type": "pullrequest",
        "id": pr.number,
        "title": pr.title,
        "state": "MERGED" if pr.merged else "OPEN",
        "source": {
            "branch": {"name": pr.head_branch},
            "commit": {"type": "commit", "hash": pr.head_sha},
        },
        "destination": {"branch": {"name": pr.base}},
        "links": {"html": {"href": f"{WEB}/{repo.name}/pull-requests/{pr.number}"}},
    }


def _comment(repo: Repo, c: StoredComment) -> dict[str, Any]:
    kind, ref = c.target
    where = {"pr": f"pull-requests/{ref}", "commit": f"commits/{ref}", "issue": f"issues/{ref}"}[
        kind
    ]
    return {
        "type": {"pr": "pullrequest_comment", "commit": "commit_comment", "issue": "issue_comment"}[
            kind
        ],
        "id": c.id,
        "content": {"raw": c.body, "markup": "markdown"},
        "deleted": False,
        "links": {"html": {"href": f"{WEB}/{repo.name}/{where}#comment-{c.id}"}},
    }


def commit_pulls(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    found = [_pull(repo, p) for p in repo.pulls.values() if p.head_sha == req.params["commit"]]
    return _page(req, found)


def _target(req: Req) -> tuple[str, str]:
    if "pull_request_id" in req.params:
        return ("pr", req.params["pull_request_id"])
    if "issue_id" in req.params:
        return ("issue", req.params["issue_id"])
    return ("commit", req.params["commit"])


def list_comments(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    return _page(req, [_comment(repo, c) for c in repo.comments_on(*_target(req))])


def create_comment(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    target = _target(req)
    if target[0] == "pr" and int(target[1]) not in repo.pulls:
        raise NotFound("Pull request not found")
    comment = StoredComment(server.state.next_id(), target, req.json()["content"]["raw"])
    repo.comments[comment.id] = comment
    return Reply(201, _comment(repo, comment))


def update_comment(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    comment = repo.comments.get(int(req.params["comment_id"]))
    if comment is None or comment.target != _target(req):
        raise NotFound("Comment not found")
    comment.body, comment.updates = req.json()["content"]["raw"], comment.updates + 1
    status = 201 if comment.target[0] == "commit" else 200  # as the description documents
    return Reply(status, _comment(repo, comment))


def upload_download(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    files = req.request.files.getlist("files")
    if not files:
        raise Invalid("no files field")
    for file in files:
        repo.uploads[file.filename or "file"] = file.read()
    return Reply(201)


def create_src_commit(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    form, files = req.request.form, req.request.files
    branch = form.get("branch") or repo.default_branch
    source = (
        f"heads/{branch}" if f"heads/{branch}" in repo.git.refs else f"heads/{repo.default_branch}"
    )
    tree = {p: repo.git.blob(c) for p, c in repo.git.files(source).items()}
    for field_name, file in files.items(multi=True):
        if field_name.startswith("/"):
            tree[field_name.lstrip("/")] = repo.git.blob(file.read())
    for deleted in form.getlist("files"):  # Bitbucket: a path named in "files" with no content
        tree.pop(deleted.lstrip("/"), None)
    parent = [repo.git.refs[source]]
    commit = repo.git.commit(
        repo.git.tree(tree), parent, form.get("message", ""), form.get("author", "")
    )
    repo.git.refs[f"heads/{branch}"] = commit
    return Reply(201)


def list_pulls(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    pulls = [p for p in repo.pulls.values() if not p.merged]
    query = req.query.get("q", "")
    if "source.branch.name=" in query:
        wanted = query.split('source.branch.name="')[1].split('"')[0]
        pulls = [p for p in pulls if p.head_branch == wanted]
    return _page(req, [_pull(repo, p) for p in pulls])


def create_pull(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    head = data["source"]["branch"]["name"]
    if f"heads/{head}" not in repo.git.refs:
        raise Invalid(f"source branch {head} not found")
    base = data.get("destination", {}).get("branch", {}).get("name", repo.default_branch)
    pr = StoredPR(
        server.state.next_number(repo),
        head,
        repo.git.refs[f"heads/{head}"],
        base,
        data["title"],
        data.get("description", ""),
    )
    repo.pulls[pr.number] = pr
    return Reply(201, _pull(repo, pr))


def merge_pull(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    pr = repo.pulls.get(int(req.params["pull_request_id"]))
    if pr is None:
        raise NotFound("Pull request not found")
    pr.merged, pr.merge_method = True, (req.json() or {}).get("merge_strategy", "merge_commit")
    return Reply(200, _pull(repo, pr))


def _workspace(slug: str, uuid_: str) -> dict[str, Any]:
    return {
        "type": "workspace",
        "uuid": uuid_,
        "slug": slug,
        "name": slug,
        "links": {"html": {"href": f"{WEB}/{slug}/"}},
    }


def get_repository(server: ForgeServer, req: Req) -> Reply:
    """The repository with its ``workspace`` (as the real API answers; see the erratum in
    scripts/forge-spec-subset.py): the two UUIDs a repository runner starts with."""
    repo = _repo(server, req)
    return Reply(
        200,
        {
            "type": "repository",
            "uuid": repo.uuid,
            "full_name": repo.name,
            "name": repo.name.split("/")[1],
            "is_private": True,
            "scm": "git",
            "mainbranch": {"type": "branch", "name": repo.default_branch},
            "workspace": _workspace(req.params["workspace"], repo.owner_uuid),
            "links": {"html": {"href": f"{WEB}/{repo.name}"}},
        },
    )


def get_workspace(server: ForgeServer, req: Req) -> Reply:
    workspace = server.state.owner("bitbucket", req.params["workspace"])
    if workspace is None:
        raise NotFound("Workspace not found")
    return Reply(200, _workspace(workspace.name, workspace.uuid))


def _runner(r: StoredRunner, secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "pipeline_runner",
        "uuid": r.uuid,
        "name": r.name,
        "labels": r.labels,
        "state": {"status": r.status.upper()},
    }
    if secret:
        body["oauth_client"] = {
            "id": f"client-{r.id}",
            "secret": r.token,
            "token_endpoint": "https://auth.invalid/oauth/token",
            "audience": "api.atlassian.com",
        }
    return body


def _pool(server: ForgeServer, req: Req) -> Repo | Owner:
    """Whose runners: the repository's, or the workspace's (``/workspaces/{workspace}/…``)."""
    if "repo_slug" in req.params:
        return _repo(server, req)
    workspace = server.state.owner("bitbucket", req.params["workspace"])
    if workspace is None:
        raise NotFound("Workspace not found")
    return workspace


def create_runner(server: ForgeServer, req: Req) -> Reply:
    repo = _pool(server, req)
    data = req.json() or {}
    if not data.get("name"):
        raise Invalid("name is required")
    runner = StoredRunner(server.state.next_id(), data["name"], list(data.get("labels", [])), "")
    runner.uuid = "{" + str(uuid.uuid4()) + "}"
    runner.token = f"bbrunner-{runner.id}-OAUTHSECRET"
    runner.status = "unregistered"
    repo.runners[runner.id] = runner
    return Reply(200, _runner(runner, secret=True))


def list_runners(server: ForgeServer, req: Req) -> Reply:
    repo = _pool(server, req)
    return _page(req, [_runner(r) for r in repo.runners.values()])


def delete_runner(server: ForgeServer, req: Req) -> Reply:
    repo = _pool(server, req)
    for rid, runner in list(repo.runners.items()):
        if runner.uuid == req.params["runner_uuid"]:
            del repo.runners[rid]
            return Reply(204)
    raise NotFound("Runner not found")


ROUTES = {
    **bitbucket_pipelines.ROUTES,
    ("get", B): get_repository,
    ("get", W): get_workspace,
    ("get", B + "/commit/{commit}/pullrequests"): commit_pulls,
    ("get", B + "/pullrequests/{pull_request_id}/comments"): list_comments,
    ("post", B + "/pullrequests/{pull_request_id}/comments"): create_comment,
    ("put", B + "/pullrequests/{pull_request_id}/comments/{comment_id}"): update_comment,
    ("get", B + "/commit/{commit}/comments"): list_comments,
    ("post", B + "/commit/{commit}/comments"): create_comment,
    ("put", B + "/commit/{commit}/comments/{comment_id}"): update_comment,
    ("get", B + "/issues/{issue_id}/comments"): list_comments,
    ("post", B + "/issues/{issue_id}/comments"): create_comment,
    ("put", B + "/issues/{issue_id}/comments/{comment_id}"): update_comment,
    ("post", B + "/downloads"): upload_download,
    ("post", B + "/src"): create_src_commit,
    ("get", B + "/pullrequests"): list_pulls,
    ("post", B + "/pullrequests"): create_pull,
    ("post", B + "/pullrequests/{pull_request_id}/merge"): merge_pull,
    ("get", B + "/pipelines-config/runners"): list_runners,
    ("post", B + "/pipelines-config/runners"): create_runner,
    ("delete", B + "/pipelines-config/runners/{runner_uuid}"): delete_runner,
    ("get", W + "/pipelines-config/runners"): list_runners,
    ("post", W + "/pipelines-config/runners"): create_runner,
    ("delete", W + "/pipelines-config/runners/{runner_uuid}"): delete_runner,
}
