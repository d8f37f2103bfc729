"""Writing to a GitHub repository through its git data and contents APIs, without a clone or
push credentials on the runner: report assets on an orphan branch, and PR branches from files.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from cmlinfra.forges import paths
from cmlinfra.forges.base import Author, FileChange
from cmlinfra.forges.http import ForgeHTTP, generic_error, message_of

ASSET_BRANCH = "cmlinfra-assets"


def asset_name(path: Path, data: bytes) -> str:
    """Content-addressed: the same image is stored once, two images never collide."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"{digest}-{re.sub(r'[^A-Za-z0-9._-]', '_', path.name)}"


def upload_asset(http: ForgeHTTP, repo_api: str, repo_url: str, path: Path) -> str:
    """Commit ``path`` to the assets branch (created on first use) and return its raw URL."""
    data = path.read_bytes()
    name = asset_name(path, data)
    url = f"{repo_url}/blob/{ASSET_BRANCH}/{name}?raw=true"
    body = {
        "message": f"cmlinfra asset {name}",
        "content": base64.b64encode(data).decode(),
        "branch": ASSET_BRANCH,
    }
    target = f"{repo_api}/contents/{name}"
    for attempt in range(2):
        response = http.request("PUT", target, json=body, allow=(404, 422))
        if response.status_code < 300:
            return str(response.json()["content"]["html_url"]) + "?raw=true"
        message = message_of(response)
        if response.status_code == 422 and '"sha"' in message:
            return url  # this exact content is already there under this name
        if "branch" not in message.lower() or attempt:
            break
        create_orphan_branch(http, repo_api)
    raise http.error_for(response) or generic_error("GitHub", "PUT", target, response)


def create_orphan_branch(http: ForgeHTTP, repo_api: str) -> None:
    """An orphan branch holding only assets, so they never mix with the project's history."""
    readme = "Report images published by cmlinfra. Safe to delete.\n"
    entry = {"path": "README.md", "mode": "100644", "type": "blob", "content": readme}
    tree = http.json("POST", f"{repo_api}/git/trees", json={"tree": [entry]})
    commit = http.json(
        "POST",
        f"{repo_api}/git/commits",
        json={"message": "cmlinfra assets", "tree": tree["sha"], "parents": []},
    )
    set_branch(http, repo_api, ASSET_BRANCH, commit["sha"], force=False)


def set_branch(http: ForgeHTTP, repo_api: str, branch: str, sha: str, *, force: bool) -> None:
    """Create ``branch`` at ``sha``; if it exists, move it there (``force``) or leave it."""
    response = http.request(
        "POST",
        f"{repo_api}/git/refs",
        json={"ref": f"refs/heads/{branch}", "sha": sha},
        allow=(422,),
    )
    if response.status_code == 422:
        if "already exists" not in message_of(response):
            raise http.error_for(response) or generic_error(
                "GitHub", "POST", f"{repo_api}/git/refs", response
            )
        if force:
            http.json(
                "PATCH",
                f"{repo_api}/git/refs/heads/{paths.ref_path(branch)}",
                json={"sha": sha, "force": True},
            )


def commit_files(
    http: ForgeHTTP,
    repo_api: str,
    *,
    base: str,
    branch: str,
    message: str,
    files: list[FileChange],
    author: Author | None = None,
) -> str:
    """One commit with ``files`` (a None content deletes) on top of ``base``, on ``branch``
    (moved there if it exists), by ``author`` when given."""
    paths.ref_path(branch)  # refused before anything is written, not at the last request
    head = http.json("GET", f"{repo_api}/git/ref/heads/{paths.ref_path(base)}")["object"]["sha"]
    base_tree = http.json("GET", f"{repo_api}/git/commits/{paths.sha(head)}")["tree"]["sha"]
    entries: list[dict[str, str | None]] = []
    for change in files:
        if change.content is None:
            entries.append({"path": change.path, "mode": "100644", "type": "blob", "sha": None})
            continue
        blob = http.json(
            "POST",
            f"{repo_api}/git/blobs",
            json={"content": base64.b64encode(change.content).decode(), "encoding": "base64"},
        )
        entries.append({"path": change.path, "mode": "100644", "type": "blob", "sha": blob["sha"]})
    tree = http.json(
        "POST", f"{repo_api}/git/trees", json={"base_tree": base_tree, "tree": entries}
    )
    request: dict[str, object] = {"message": message, "tree": tree["sha"], "parents": [head]}
    if author:
        request["author"] = {"name": author[0], "email": author[1]}
    commit = http.json("POST", f"{repo_api}/git/commits", json=request)
    set_branch(http, repo_api, branch, commit["sha"], force=True)
    return str(commit["sha"])
