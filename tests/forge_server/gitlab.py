"""The GitLab endpoints cmlinfra's driver calls (paths as in GitLab's OpenAPI v3)."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from tests.forge_server import jobs
from tests.forge_server.gitlab_runners import (
    G,
    create_runner,
    delete_runner,
    get_group,
    get_runner,
    list_runners,
)
from tests.forge_server.messages import Invalid, NotFound, Reply, Req, error_reply
from tests.forge_server.state import MERGEABLE_NOW, Repo, StoredComment, StoredPR

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

P = "/api/v4/projects/{id}"
USER = {"id": 7, "username": "cmlinfra-bot", "name": "cmlinfra bot", "state": "active"}


def _repo(server: ForgeServer, req: Req) -> Repo:
    key = req.params["id"]
    for (forge, name), repo in server.state.repos.items():
        if forge == "gitlab" and key in (name, str(repo.id)):
            return repo
    raise NotFound("404 Project Not Found")


def _page(req: Req, items: list[Any]) -> Reply:
    """GitLab pagination: ``page``/``per_page`` and an ``x-next-page`` header."""
    per_page = int(req.query.get("per_page", 20))
    page = int(req.query.get("page", 1))
    headers = {"x-page": str(page), "x-per-page": str(per_page), "x-next-page": ""}
    if page * per_page < len(items):
        headers["x-next-page"] = str(page + 1)
    return Reply(200, items[(page - 1) * per_page : page * per_page], headers)


def _mr(server: ForgeServer, repo: Repo, pr: StoredPR) -> dict[str, Any]:
    return {
        "id": pr.number + 100000,
        "iid": pr.number,
        "project_id": repo.id,
        "title": pr.title,
        "description": pr.body,
        "state": "merged" if pr.merged else ("opened" if pr.state == "open" else pr.state),
        "sha": pr.head_sha,
        "source_branch": pr.head_branch,
        "target_branch": pr.base,
        "web_url": f"{server.gitlab_web}/{repo.name}/-/merge_requests/{pr.number}",
        "merge_when_pipeline_succeeds": pr.merge_method.startswith("auto") and not pr.merged,
        "squash": pr.merge_method.endswith("squash"),
    }


def _note(c: StoredComment, noteable: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "body": c.body,
        "author": USER,
        "system": False,
        "noteable_type": noteable,
        **({"type": "DiscussionNote"} if c.thread else {}),
    }


def get_project(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    return Reply(
        200,
        {
            "id": repo.id,
            "path_with_namespace": repo.name,
            "default_branch": repo.default_branch,
            "web_url": f"{server.gitlab_web}/{repo.name}",
        },
    )


def commit_mrs(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    sha = req.params["sha"]
    return Reply(200, [_mr(server, repo, p) for p in repo.pulls.values() if p.head_sha == sha])


def _note_target(req: Req) -> tuple[str, str, str]:
    kind = "pr" if "/merge_requests/" in req.template else "issue"
    return kind, req.params["noteable_id"], "MergeRequest" if kind == "pr" else "Issue"


def list_notes(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    kind, ref, noteable = _note_target(req)
    if kind == "pr" and int(ref) not in repo.pulls:
        raise NotFound("404 Not found")
    notes = repo.comments_on(kind, ref)
    if req.query.get("sort", "desc") == "desc":
        notes = notes[::-1]
    return _page(req, [_note(c, noteable) for c in notes])


def create_note(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    kind, ref, noteable = _note_target(req)
    if kind == "pr" and int(ref) not in repo.pulls:
        raise NotFound("404 Not found")
    comment = StoredComment(server.state.next_id(), (kind, ref), req.json()["body"])
    repo.comments[comment.id] = comment
    return Reply(201, _note(comment, noteable))


def update_note(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    kind, ref, noteable = _note_target(req)
    comment = repo.comments.get(int(req.params["note_id"]))
    if comment is None or comment.target != (kind, ref):
        raise NotFound("404 Note Not Found")
    comment.body, comment.updates = req.json()["body"], comment.updates + 1
    return Reply(200, _note(comment, noteable))


def _discussion(c: StoredComment) -> dict[str, Any]:
    return {"id": c.thread, "individual_note": False, "notes": [_note(c, "Commit")]}


def list_discussions(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    found = repo.comments_on("commit", req.params["noteable_id"])
    return _page(req, [_discussion(c) for c in found])


def create_discussion(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    cid = server.state.next_id()
    thread = hashlib.sha1(str(cid).encode()).hexdigest()
    comment = StoredComment(cid, ("commit", req.params["noteable_id"]), req.json()["body"], thread)
    repo.comments[cid] = comment
    return Reply(201, _discussion(comment))


def update_discussion_note(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    comment = repo.comments.get(int(req.params["note_id"]))
    if comment is None or comment.thread != req.params["discussion_id"]:
        raise NotFound("404 Not found")
    comment.body, comment.updates = req.json()["body"], comment.updates + 1
    return Reply(200, _note(comment, "Commit"))


def upload(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    file = req.request.files.get("file")
    if file is None:
        raise Invalid("file is missing")
    data = file.read()
    secret = hashlib.sha1(data).hexdigest()[:32]
    name = file.filename or "file"
    repo.uploads[f"{secret}/{name}"] = data
    url = f"/uploads/{secret}/{name}"
    return Reply(
        201,
        {
            "id": server.state.next_id(),
            "alt": name,
            "url": url,
            "full_path": f"/-/project/{repo.id}/uploads/{secret}/{name}",
            "markdown": f"![{name}]({url})",
        },
    )


def head_file(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    ref = f"heads/{req.query['ref']}"
    if ref not in repo.git.refs or req.params["file_path"] not in repo.git.files(ref):
        raise NotFound("404 File Not Found")
    return Reply(200)


def create_commit(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    branch, start = data["branch"], data.get("start_branch")
    source = f"heads/{start}" if start else f"heads/{branch}"
    if source not in repo.git.refs:
        raise Invalid(f"You can only create or edit files when you are on a branch: {source}")
    if start and f"heads/{branch}" in repo.git.refs and not data.get("force"):
        raise Invalid(f"A branch called '{branch}' already exists")
    files = repo.git.files(source)
    tree = {p: repo.git.blob(c) for p, c in files.items()}
    for action in data["actions"]:
        path = action["file_path"]
        if action["action"] == "create" and path in files:
            raise Invalid(f"A file with this name already exists: {path}")
        if action["action"] in ("update", "delete") and path not in files:
            raise Invalid(f"A file with this name doesn't exist: {path}")
        if action["action"] == "delete":
            tree.pop(path, None)
            continue
        content = action.get("content", "")
        raw = base64.b64decode(content) if action.get("encoding") == "base64" else content.encode()
        tree[path] = repo.git.blob(raw)
    author = f"{data['author_name']} <{data['author_email']}>" if data.get("author_email") else ""
    sha = repo.git.commit(
        repo.git.tree(tree), [repo.git.refs[source]], data["commit_message"], author
    )
    repo.git.refs[f"heads/{branch}"] = sha
    return Reply(
        200,
        {
            "id": sha,
            "short_id": sha[:8],
            "title": data["commit_message"],
            "message": data["commit_message"],
        },
    )


def list_mrs(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    mrs = [_mr(server, repo, p) for p in repo.pulls.values()]
    if "source_branch" in req.query:
        mrs = [m for m in mrs if m["source_branch"] == req.query["source_branch"]]
    if "state" in req.query:
        mrs = [m for m in mrs if m["state"] == req.query["state"]]
    return _page(req, mrs)


def create_mr(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    head = f"heads/{data['source_branch']}"
    if head not in repo.git.refs:
        raise Invalid("Source branch does not exist")
    pr = StoredPR(
        server.state.next_number(repo),
        data["source_branch"],
        repo.git.refs[head],
        data["target_branch"],
        data.get("title", ""),
        data.get("description") or "",
        merge_state=repo.merge_state,
    )
    repo.pulls[pr.number] = pr
    return Reply(201, _mr(server, repo, pr))


def merge_mr(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    pr = repo.pulls.get(int(req.params["merge_request_iid"]))
    if pr is None:
        raise NotFound("404 Not found")
    data = req.json() or {}
    if data.get("sha") not in (None, pr.head_sha):
        return error_reply("gitlab", 409, "SHA does not match HEAD of source branch")
    # before 17.11 GitLab ignores auto_merge: without merge_when_pipeline_succeeds it merges
    wait = data.get("merge_when_pipeline_succeeds") or (
        repo.knows_auto_merge and data.get("auto_merge")
    )
    squash = "squash" if data.get("squash") else "merge"
    if wait and pr.merge_state not in MERGEABLE_NOW:  # a pipeline is running: wait for it
        pr.merge_method = f"auto-{squash}"
    else:  # nothing to wait for, or not asked to wait: merged now, tested or not
        pr.merged, pr.merge_method = True, squash
    return Reply(200, _mr(server, repo, pr))


def retry_pipeline(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    repo.reruns.append(req.params["pipeline_id"])
    return Reply(
        201, {"id": int(req.params["pipeline_id"]), "project_id": repo.id, "status": "pending"}
    )


ROUTES = {
    ("get", P): get_project,
    ("get", P + "/repository/commits/{sha}/merge_requests"): commit_mrs,
    ("get", P + "/merge_requests/{noteable_id}/notes"): list_notes,
    ("post", P + "/merge_requests/{noteable_id}/notes"): create_note,
    ("put", P + "/merge_requests/{noteable_id}/notes/{note_id}"): update_note,
    ("get", P + "/issues/{noteable_id}/notes"): list_notes,
    ("post", P + "/issues/{noteable_id}/notes"): create_note,
    ("put", P + "/issues/{noteable_id}/notes/{note_id}"): update_note,
    ("get", P + "/repository/commits/{noteable_id}/discussions"): list_discussions,
    ("post", P + "/repository/commits/{noteable_id}/discussions"): create_discussion,
    (
        "put",
        P + "/repository/commits/{noteable_id}/discussions/{discussion_id}/notes/{note_id}",
    ): update_discussion_note,
    ("post", P + "/uploads"): upload,
    ("head", P + "/repository/files/{file_path}"): head_file,
    ("post", P + "/repository/commits"): create_commit,
    ("get", P + "/merge_requests"): list_mrs,
    ("post", P + "/merge_requests"): create_mr,
    ("put", P + "/merge_requests/{merge_request_iid}/merge"): merge_mr,
    ("post", P + "/pipelines/{pipeline_id}/retry"): retry_pipeline,
    ("get", P + "/jobs"): jobs.list_project_jobs,
    ("get", P + "/pipelines/{pipeline_id}/jobs"): jobs.list_pipeline_jobs,
    ("post", P + "/jobs/{job_id}/retry"): jobs.retry_gitlab_job,
    ("get", P + "/runners"): list_runners,
    ("post", "/api/v4/user/runners"): create_runner,
    ("get", "/api/v4/runners/{id}"): get_runner,
    ("delete", "/api/v4/runners/{id}"): delete_runner,
    ("get", G): get_group,
    ("get", G + "/runners"): list_runners,
}
