"""The GitHub endpoints cmlinfra's driver calls (paths as in @octokit/openapi)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.forge_server import jobs
from tests.forge_server.github_git import (
    create_blob,
    create_commit,
    create_ref,
    create_tree,
    get_commit,
    get_ref,
    put_contents,
    update_ref,
)
from tests.forge_server.github_graphql import MERGEABLE_NOW, node_id
from tests.forge_server.github_runners import (
    delete_runner,
    jit_config,
    list_runner_groups,
    list_runners,
    registration_token,
)
from tests.forge_server.messages import Invalid, NotFound, Reply, Req, error_reply
from tests.forge_server.state import Repo, StoredComment, StoredPR

if TYPE_CHECKING:
    from tests.forge_server.core import ForgeServer

R = "/repos/{owner}/{repo}"
ORG = "/orgs/{org}"
WEB = "https://github.test"
USER = {"login": "cmlinfra-bot", "id": 7, "type": "Bot"}


def _repo(server: ForgeServer, req: Req) -> Repo:
    name = f"{req.params['owner']}/{req.params['repo']}"
    repo = server.state.repo("github", name)
    if repo is None:
        raise NotFound("Not Found")
    return repo


def _pull(repo: Repo, pr: StoredPR) -> dict[str, Any]:
    owner = repo.name.split("/")[0]
    return {
        "number": pr.number,
        "node_id": node_id(repo, pr),
        "state": "closed" if pr.merged else pr.state,
        "title": pr.title,
        "body": pr.body,
        "html_url": f"{WEB}/{repo.name}/pull/{pr.number}",
        "head": {"ref": pr.head_branch, "sha": pr.head_sha, "label": f"{owner}:{pr.head_branch}"},
        "base": {
            "ref": pr.base,
            "sha": repo.git.refs.get(f"heads/{pr.base}", ""),
            "label": pr.base,
        },
        "merged": pr.merged,
        "user": USER,
        "auto_merge": _auto_merge(pr),
    }


def _auto_merge(pr: StoredPR) -> dict[str, Any] | None:
    """The REST view of auto-merge: null unless set (and not merged yet)."""
    if pr.merged or not pr.merge_method.startswith("auto-"):
        return None
    method = pr.merge_method.removeprefix("auto-")
    return {"enabled_by": USER, "merge_method": method, "commit_title": "", "commit_message": ""}


def _comment(repo: Repo, c: StoredComment) -> dict[str, Any]:
    kind, ref = c.target
    where = f"commit/{ref}" if kind == "commit" else f"pull/{ref}"
    return {
        "id": c.id,
        "body": c.body,
        "html_url": f"{WEB}/{repo.name}/{where}#comment-{c.id}",
        "user": USER,
        **({"commit_id": ref} if kind == "commit" else {}),
    }


def _page(req: Req, items: list[Any]) -> Reply:
    """GitHub pagination: ``per_page``/``page`` and a ``Link: rel=next`` header."""
    per_page = int(req.query.get("per_page", 30))
    page = int(req.query.get("page", 1))
    chunk = items[(page - 1) * per_page : page * per_page]
    headers = {}
    if page * per_page < len(items):
        url = req.request.base_url
        headers["Link"] = f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"'
    return Reply(200, chunk, headers)


def commit_pulls(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    sha = req.params["commit_sha"]
    found = [p for p in repo.pulls.values() if p.head_sha == sha]
    return Reply(200, [_pull(repo, p) for p in found])


def _target(req: Req) -> tuple[str, str]:
    if "commit_sha" in req.params:
        return ("commit", req.params["commit_sha"])
    return ("pr", req.params["issue_number"])


def _normalise(repo: Repo, target: tuple[str, str]) -> tuple[str, str]:
    """Issue numbers that are not PRs are issues (PRs and issues share numbers on GitHub)."""
    if target[0] == "pr" and int(target[1]) not in repo.pulls:
        return ("issue", target[1])
    return target


def list_comments(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    kind, ref = _normalise(repo, _target(req))
    return _page(req, [_comment(repo, c) for c in repo.comments_on(kind, ref)])


def create_comment(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    target = _normalise(repo, _target(req))
    body = req.json()["body"]
    if len(body) > 65536:
        raise Invalid("Validation Failed: body is too long (maximum is 65536 characters)")
    comment = StoredComment(server.state.next_id(), target, body)
    repo.comments[comment.id] = comment
    return Reply(201, _comment(repo, comment))


def update_comment(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    comment = repo.comments.get(int(req.params["comment_id"]))
    commit_kind = req.template.endswith("/comments/{comment_id}") and "/issues/" not in req.template
    if comment is None or (comment.target[0] == "commit") != commit_kind:
        raise NotFound("Not Found")
    body = req.json()["body"]
    if len(body) > 65536:
        raise Invalid("Validation Failed: body is too long (maximum is 65536 characters)")
    comment.body, comment.updates = body, comment.updates + 1
    return Reply(200, _comment(repo, comment))


def list_pulls(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    pulls = list(repo.pulls.values())
    if "head" in req.query:
        pulls = [
            p for p in pulls if f"{repo.name.split('/')[0]}:{p.head_branch}" == req.query["head"]
        ]
    if req.query.get("state", "open") == "open":
        pulls = [p for p in pulls if p.state == "open" and not p.merged]
    return _page(req, [_pull(repo, p) for p in pulls])


def create_pull(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    if f"heads/{data['head']}" not in repo.git.refs:
        raise Invalid("Validation Failed: head does not exist")
    if f"heads/{data['base']}" not in repo.git.refs:
        raise Invalid("Validation Failed: base does not exist")
    pr = StoredPR(
        server.state.next_number(repo),
        data["head"],
        repo.git.refs[f"heads/{data['head']}"],
        data["base"],
        data.get("title", ""),
        data.get("body") or "",
        merge_state=repo.merge_state,
    )
    repo.pulls[pr.number] = pr
    return Reply(201, _pull(repo, pr))


def merge_pull(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    pr = repo.pulls.get(int(req.params["pull_number"]))
    if pr is None:
        raise NotFound("Not Found")
    data = req.json() or {}
    if data.get("sha") and data["sha"] != pr.head_sha:
        return error_reply(
            "github", 409, "Head branch was modified. Review and try the merge again."
        )
    if pr.base in repo.protected and pr.merge_state not in MERGEABLE_NOW:  # checks pending
        return error_reply("github", 405, 'Required status check "test" is expected.')
    pr.merged, pr.merge_method = True, data.get("merge_method", "merge")
    return Reply(
        200, {"sha": pr.head_sha, "merged": True, "message": "Pull Request successfully merged"}
    )


def create_check_run(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    data = req.json()
    summary = data.get("output", {}).get("summary", "")
    if len(summary) > 65535:
        raise Invalid("Validation Failed: output.summary is too long (maximum is 65535 characters)")
    run_id = server.state.next_id()
    repo.check_runs.append({"id": run_id, **data})
    return Reply(
        201,
        {
            "id": run_id,
            "head_sha": data["head_sha"],
            "name": data["name"],
            "status": data.get("status", "queued"),
            "conclusion": data.get("conclusion"),
            "html_url": f"{WEB}/{repo.name}/runs/{run_id}",
        },
    )


def rerun(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    repo.reruns.append(req.params["run_id"])
    return Reply(201, {})


def get_repo(server: ForgeServer, req: Req) -> Reply:
    repo = _repo(server, req)
    owner = repo.name.split("/")[0]
    return Reply(
        200,
        {
            "id": repo.id,
            "name": repo.name.split("/")[1],
            "full_name": repo.name,
            "default_branch": repo.default_branch,
            "owner": {**USER, "login": owner},
        },
    )


ROUTES = {
    ("get", R): get_repo,
    ("get", R + "/commits/{commit_sha}/pulls"): commit_pulls,
    ("get", R + "/issues/{issue_number}/comments"): list_comments,
    ("post", R + "/issues/{issue_number}/comments"): create_comment,
    ("patch", R + "/issues/comments/{comment_id}"): update_comment,
    ("get", R + "/commits/{commit_sha}/comments"): list_comments,
    ("post", R + "/commits/{commit_sha}/comments"): create_comment,
    ("patch", R + "/comments/{comment_id}"): update_comment,
    ("put", R + "/contents/{path}"): put_contents,
    ("post", R + "/git/blobs"): create_blob,
    ("post", R + "/git/trees"): create_tree,
    ("post", R + "/git/commits"): create_commit,
    ("get", R + "/git/commits/{commit_sha}"): get_commit,
    ("post", R + "/git/refs"): create_ref,
    ("get", R + "/git/ref/{ref}"): get_ref,
    ("patch", R + "/git/refs/{ref}"): update_ref,
    ("get", R + "/pulls"): list_pulls,
    ("post", R + "/pulls"): create_pull,
    ("put", R + "/pulls/{pull_number}/merge"): merge_pull,
    ("post", R + "/check-runs"): create_check_run,
    ("post", R + "/actions/runs/{run_id}/rerun"): rerun,
    ("get", R + "/actions/runs"): jobs.list_runs,
    ("get", R + "/actions/runs/{run_id}/jobs"): jobs.list_run_jobs,
    ("post", R + "/actions/jobs/{job_id}/rerun"): jobs.rerun_github_job,
    ("get", R + "/actions/runners"): list_runners,
    ("post", R + "/actions/runners/generate-jitconfig"): jit_config,
    ("post", R + "/actions/runners/registration-token"): registration_token,
    ("delete", R + "/actions/runners/{runner_id}"): delete_runner,
    ("get", ORG + "/actions/runners"): list_runners,
    ("get", ORG + "/actions/runner-groups"): list_runner_groups,
    ("post", ORG + "/actions/runners/generate-jitconfig"): jit_config,
    ("post", ORG + "/actions/runners/registration-token"): registration_token,
    ("delete", ORG + "/actions/runners/{runner_id}"): delete_runner,
}
