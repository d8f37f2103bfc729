"""GitHub's GraphQL endpoint on the fake forge (``POST /graphql``, Enterprise ``/api/graphql``).

Every query is parsed and validated by graphql-core against ``specs/github.graphql``, a subset of
GitHub's published schema (scripts/github-graphql-subset.py): a query the real API would reject
— a misspelled field, a wrong argument or variable type — is recorded as a violation, the way an
OpenAPI violation is. Valid queries are *executed* by graphql-core with resolvers over the
server's state, so every response has the schema's shape by construction.

Refusals come back as GitHub sends them: HTTP 200, ``data`` with the mutation ``null`` and an
``errors`` entry carrying GitHub's ``type`` (``UNPROCESSABLE``, ``NOT_FOUND``) and message text
("Pull request Pull request is in clean status", "Auto merge is not allowed for this
repository", "Pull request Protected branch rules not configured for this branch", as GitHub
words them).
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, build_schema, execute_sync, parse, validate

from tests.forge_server.messages import Reply
from tests.forge_server.state import MERGEABLE_NOW
from tests.forge_server.validation import SPECS

if TYPE_CHECKING:
    from graphql import ExecutionResult, GraphQLResolveInfo, GraphQLSchema

    from tests.forge_server.core import ForgeServer
    from tests.forge_server.state import Repo, StoredPR

WEB = "https://github.test"


class Refused(Exception):
    """A refusal GitHub itself would answer with (not a fault of the request's shape)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def node_id(repo: Repo, pr: StoredPR) -> str:
    """A pull request's global node id (opaque, like GitHub's ``PR_kwDO…``)."""
    raw = f"{repo.id}:{pr.number}".encode()
    return "PR_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _find(server: ForgeServer, global_id: str) -> tuple[Repo, StoredPR]:
    for (forge, _), repo in server.state.repos.items():
        for pr in repo.pulls.values():
            if forge == "github" and node_id(repo, pr) == global_id:
                return repo, pr
    raise Refused("NOT_FOUND", f"Could not resolve to a node with the global id of '{global_id}'")


def _pull(repo: Repo, pr: StoredPR) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": node_id(repo, pr),
        "number": pr.number,
        "url": f"{WEB}/{repo.name}/pull/{pr.number}",
        "state": "MERGED" if pr.merged else pr.state.upper(),
        "headRefOid": pr.head_sha,
        "mergeStateStatus": pr.merge_state.upper(),
        "autoMergeRequest": None,
    }
    if pr.merge_method.startswith("auto-") and not pr.merged:
        data["autoMergeRequest"] = {
            "mergeMethod": pr.merge_method.removeprefix("auto-").upper(),
            "enabledAt": "2026-01-01T00:00:00Z",
            "pullRequest": data,
        }
    return data


def enable_auto_merge(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> Any:
    server: ForgeServer = info.context
    repo, pr = _find(server, input["pullRequestId"])
    if pr.merged or pr.state != "open":
        raise Refused("UNPROCESSABLE", "Pull request is not open")
    if not repo.allow_auto_merge:
        raise Refused("UNPROCESSABLE", "Auto merge is not allowed for this repository")
    if input.get("expectedHeadOid") not in (None, pr.head_sha):
        raise Refused("UNPROCESSABLE", "Head branch was modified. Review and try the merge again.")
    if pr.base not in repo.protected:  # no required checks: nothing to wait for, ever
        raise Refused(
            "UNPROCESSABLE", "Pull request Protected branch rules not configured for this branch"
        )
    if pr.merge_state in MERGEABLE_NOW:
        raise Refused("UNPROCESSABLE", f"Pull request Pull request is in {pr.merge_state} status")
    pr.merge_method = "auto-" + str(input.get("mergeMethod", "MERGE")).lower()
    return {"clientMutationId": input.get("clientMutationId"), "pullRequest": _pull(repo, pr)}


def node(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    try:
        return _pull(*_find(info.context, id))
    except Refused:
        return None  # GitHub answers null (and an error); null alone is enough here


def _object_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{40}", value):
        raise GraphQLError(f"{value!r} is not a valid GitObjectID (40 hex digits)")
    return value


def load_schema() -> GraphQLSchema:
    schema = build_schema((SPECS / "github.graphql").read_text())
    assert schema.mutation_type is not None and schema.query_type is not None
    schema.mutation_type.fields["enablePullRequestAutoMerge"].resolve = enable_auto_merge
    schema.query_type.fields["node"].resolve = node
    schema.type_map["Node"].resolve_type = lambda *_: "PullRequest"  # type: ignore[attr-defined]
    object_id = schema.type_map["GitObjectID"]  # GitHub checks it; SDL scalars take anything
    object_id.coerce_input_value = _object_id  # type: ignore[attr-defined]
    object_id.coerce_input_literal = lambda node: _object_id(getattr(node, "value", None))  # type: ignore[attr-defined]
    return schema


def handle(server: ForgeServer, schema: GraphQLSchema, body: bytes) -> tuple[Reply, list[str]]:
    """The reply to one GraphQL request, and what was wrong with the request (violations)."""
    try:
        payload = json.loads(body or b"null")
        query, variables = payload["query"], payload.get("variables") or {}
        assert isinstance(query, str) and isinstance(variables, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        reason = "the body is not a JSON object with a string query and object variables"
        return Reply(400, {"message": "Problems parsing JSON"}, raw=True), [reason]
    try:
        document = parse(query)
    except GraphQLError as exc:
        return Reply(200, {"errors": [exc.formatted]}, raw=True), [f"parse error: {exc.message}"]
    invalid = validate(schema, document)
    if invalid:
        problems = [f"invalid against the GitHub schema: {e.message}" for e in invalid]
        return Reply(200, {"errors": [e.formatted for e in invalid]}, raw=True), problems
    result = execute_sync(
        schema,
        document,
        context_value=server,
        variable_values=variables,
        operation_name=payload.get("operationName"),
    )
    return _reply(result)


def _reply(result: ExecutionResult) -> tuple[Reply, list[str]]:
    problems: list[str] = []
    errors = []
    for error in result.errors or []:
        formatted = dict(error.formatted)
        original = error.original_error
        if isinstance(original, Refused):
            formatted["type"] = original.kind  # where GitHub puts it (not under extensions)
        elif result.data is None:  # variables that do not coerce: the request is wrong
            problems.append(f"invalid variables for the GitHub schema: {error.message}")
        else:
            problems.append(f"fake server bug: resolver failed: {error.message}")
        errors.append(formatted)
    body: dict[str, Any] = {"data": result.data} if result.data is not None else {}
    if errors:
        body["errors"] = errors
    return Reply(200, body, raw=True), problems
