"""The fake GitHub's git data and contents endpoints: blobs, trees, commits, refs, files."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from tests.forge_server.messages import Invalid, NotFound, Reply, Req
from tests.forge_server.state import Repo

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

WEB = "https://github.test"


def _repo(server: ForgeServer, req: Req) -> Repo:
    from tests.forge_server.github import _repo as repo_of

    return repo_of(server, req)


def put_contents(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    branch = data.get("branch", repo.default_branch)
    ref = f"heads/{branch}"
    if ref not in repo.git.refs:
        raise NotFound(f"Branch {branch} not found")
    path = req.params["path"]
    files = repo.git.files(ref)
    blob_sha = {
        p: s for p, s in repo.git.trees[str(repo.git.commits[repo.git.refs[ref]]["tree"])].items()
    }
    if path in files and data.get("sha") != blob_sha[path]:
        raise Invalid('Invalid request.\n\n"sha" wasn\'t supplied.')
    content = base64.b64decode(data["content"])
    entries = dict(blob_sha)
    entries[path] = repo.git.blob(content)
    commit = repo.git.commit(repo.git.tree(entries), [repo.git.refs[ref]], data["message"])
    repo.git.refs[ref] = commit
    repo.uploads[path] = content
    html = f"{WEB}/{repo.name}/blob/{branch}/{path}"
    return Reply(
        200 if path in files else 201,
        {
            "content": {"name": path, "path": path, "sha": entries[path], "html_url": html},
            "commit": {"sha": commit, "message": data["message"]},
        },
    )


def create_blob(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    raw = data["content"]
    content = base64.b64decode(raw) if data.get("encoding") == "base64" else raw.encode()
    return Reply(201, {"sha": repo.git.blob(content)})


def create_tree(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    entries: dict[str, str] = {}
    if data.get("base_tree"):
        if data["base_tree"] not in repo.git.trees:
            raise Invalid("base_tree is not a valid tree")
        entries.update(repo.git.trees[data["base_tree"]])
    for entry in data["tree"]:
        if "content" in entry:
            entries[entry["path"]] = repo.git.blob(entry["content"].encode())
        elif "sha" in entry and entry["sha"] is None:  # GitHub: a null sha deletes the path
            entries.pop(entry["path"], None)
        elif entry.get("sha") in repo.git.blobs:
            entries[entry["path"]] = entry["sha"]
        else:
            raise Invalid(f"tree.sha {entry.get('sha')} is not a valid blob")
    sha = repo.git.tree(entries)
    tree = [{"path": p, "mode": "100644", "type": "blob", "sha": s} for p, s in entries.items()]
    return Reply(201, {"sha": sha, "tree": tree, "truncated": False})


def create_commit(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    if data["tree"] not in repo.git.trees:
        raise Invalid("Tree SHA does not exist")
    for parent in data.get("parents", []):
        if parent not in repo.git.commits:
            raise Invalid("Parent SHA does not exist or is not a commit object")
    who = data.get("author") or {}
    author = f"{who['name']} <{who['email']}>" if who else ""
    sha = repo.git.commit(data["tree"], data.get("parents", []), data["message"], author)
    parents = [{"sha": p} for p in data.get("parents", [])]
    return Reply(
        201,
        {"sha": sha, "message": data["message"], "tree": {"sha": data["tree"]}, "parents": parents},
    )


def get_commit(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    commit = repo.git.commits.get(req.params["commit_sha"])
    if commit is None:
        raise NotFound("Not Found")
    return Reply(
        200,
        {
            "sha": req.params["commit_sha"],
            "message": commit["message"],
            "tree": {"sha": commit["tree"]},
        },
    )


def _ref_body(repo: Repo, ref: str) -> dict[str, Any]:
    return {"ref": f"refs/{ref}", "object": {"sha": repo.git.refs[ref], "type": "commit"}}


def create_ref(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    ref = data["ref"].removeprefix("refs/")
    if ref in repo.git.refs:
        raise Invalid("Reference already exists")
    if data["sha"] not in repo.git.commits:
        raise Invalid("Object does not exist")
    repo.git.refs[ref] = data["sha"]
    return Reply(201, _ref_body(repo, ref))


def get_ref(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    ref = req.params["ref"]
    if ref not in repo.git.refs:
        raise NotFound("Not Found")
    return Reply(200, _ref_body(repo, ref))


def update_ref(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    ref = req.params["ref"]
    if ref not in repo.git.refs:
        raise Invalid("Reference does not exist")
    repo.git.refs[ref] = req.json()["sha"]
    return Reply(200, _ref_body(repo, ref))
