"""What the fake forges remember: repositories with a tiny git object store, pull requests,
comments, uploads, check runs, workflow reruns, CI jobs and pipelines, and runners. Tests
assert on it directly."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass, field


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def stable_uuid(forge: str, kind: str, name: str) -> str:
    """A braced UUID (Bitbucket's id format) derived from the name: the same workspace or
    repository has the same one in every answer and every test run."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{forge}:{kind}:{name}")) + "}"


@dataclass
class StoredComment:
    id: int
    target: tuple[str, str]  # ("pr" | "commit" | "issue", number or sha)
    body: str
    thread: str = ""  # GitLab commit discussion id
    updates: int = 0


MERGEABLE_NOW = ("clean", "unstable", "has_hooks")  # GitHub refuses auto-merge: nothing to wait


@dataclass
class StoredPR:
    number: int
    head_branch: str
    head_sha: str
    base: str
    title: str = ""
    body: str = ""
    state: str = "open"
    merged: bool = False
    merge_method: str = ""  # merge | squash | rebase once merged; auto-… while set to auto-merge
    # GitHub's mergeStateStatus, lowercase: "blocked" (required checks pending) or "clean" etc.;
    # on GitLab "blocked" stands for a running pipeline, MERGEABLE_NOW for none to wait for
    merge_state: str = "blocked"


@dataclass
class StoredRunner:
    id: int
    name: str
    labels: list[str]
    token: str
    status: str = "offline"
    busy: bool = False
    uuid: str = ""
    group: int = 0  # GitHub runner_group_id


@dataclass
class StoredJob:
    """A CI job (GitHub Actions job / GitLab CI job) and the runner it ran on. ``run`` is its
    workflow run (GitHub) or pipeline (GitLab); ``attempt`` the GitHub run attempt it belongs
    to. A re-run adds a new job (same run and name) and leaves this one as it was."""

    id: int
    run: int
    name: str
    runner_id: int | None
    runner_name: str | None
    status: str  # GitHub: completed | queued …; GitLab: failed | canceled | pending …
    conclusion: str | None = None  # GitHub only: failure | cancelled | success …
    started_at: str = "2026-01-01T00:00:00Z"
    created_at: str = "2026-01-01T00:00:00Z"
    attempt: int = 1


@dataclass
class StoredStep:
    """A step of a Bitbucket pipeline. ``state``: PENDING | IN_PROGRESS | COMPLETED;
    ``result`` once completed: SUCCESSFUL | FAILED | STOPPED | ERROR | NOT_RUN."""

    uuid: str
    name: str
    state: str = "COMPLETED"
    result: str = "SUCCESSFUL"
    started_on: str | None = "2026-01-01T00:00:00Z"


@dataclass
class StoredPipeline:
    """A Bitbucket pipeline: its target (as the API writes it), state, variables and steps.
    Starting one again (``POST …/pipelines``) adds a new pipeline with the next build number."""

    uuid: str
    build_number: int
    target: dict[str, object]
    state: str = "COMPLETED"  # PENDING | IN_PROGRESS | COMPLETED
    result: str = "FAILED"  # once COMPLETED: SUCCESSFUL | FAILED | STOPPED | ERROR
    variables: list[dict[str, object]] = field(default_factory=list)
    steps: list[StoredStep] = field(default_factory=list)
    created_on: str = "2026-01-01T00:00:00Z"
    # what started it, as the API's trigger type says ("": an answer without one); one started
    # through the API (a re-run) is pipeline_trigger_manual
    trigger: str = ""


@dataclass
class Git:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, str]] = field(default_factory=dict)  # sha → {path: blob sha}
    commits: dict[str, dict[str, object]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" → commit sha

    def blob(self, data: bytes) -> str:
        sha = sha1(b"blob:" + data)
        self.blobs[sha] = data
        return sha

    def tree(self, entries: dict[str, str]) -> str:
        sha = sha1(repr(sorted(entries.items())).encode())
        self.trees[sha] = dict(entries)
        return sha

    def commit(self, tree: str, parents: list[str], message: str, author: str = "") -> str:
        """``author``: "Name <email>" when the request named one (else the token's user)."""
        sha = sha1(f"{tree}{parents}{message}{len(self.commits)}".encode())
        self.commits[sha] = {
            "tree": tree,
            "parents": list(parents),
            "message": message,
            "author": author,
        }
        return sha

    def files(self, ref: str) -> dict[str, bytes]:
        commit = self.commits[self.refs[ref]]
        return {p: self.blobs[b] for p, b in self.trees[str(commit["tree"])].items()}


@dataclass
class Repo:
    forge: str
    name: str
    id: int
    default_branch: str = "main"
    git: Git = field(default_factory=Git)
    pulls: dict[int, StoredPR] = field(default_factory=dict)
    comments: dict[int, StoredComment] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    check_runs: list[dict[str, object]] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)
    runners: dict[int, StoredRunner] = field(default_factory=dict)
    jobs: list[StoredJob] = field(default_factory=list)
    job_reruns: list[int] = field(default_factory=list)  # ids of the jobs re-run / retried
    pipelines: list[StoredPipeline] = field(default_factory=list)  # Bitbucket's
    allow_auto_merge: bool = False  # GitHub's repository setting (off unless turned on)
    merge_state: str = "blocked"  # the merge state new pull requests get (GitHub, GitLab)
    # base branches with protection rules (GitHub): required checks, auto-merge possible
    protected: set[str] = field(default_factory=lambda: {"main"})
    knows_auto_merge: bool = True  # GitLab ≥ 17.11: its merge API takes ``auto_merge``

    @property
    def uuid(self) -> str:
        """The repository's immutable id (Bitbucket)."""
        return stable_uuid(self.forge, "repository", self.name)

    @property
    def owner_uuid(self) -> str:
        """Its workspace's id (Bitbucket): the same as that workspace's :attr:`Owner.uuid`."""
        return stable_uuid(self.forge, "owner", self.name.split("/")[0])

    def comments_on(self, kind: str, ref: str) -> list[StoredComment]:
        return [c for c in self.comments.values() if c.target == (kind, str(ref))]


@dataclass
class Owner:
    """A GitHub organization, GitLab group or Bitbucket workspace: a runner pool shared by
    its repositories."""

    forge: str
    name: str  # organization login, group full path (a/b), workspace slug
    id: int
    runners: dict[int, StoredRunner] = field(default_factory=dict)
    # GitHub runner groups, id → name: every organization has Default (1)
    runner_groups: dict[int, str] = field(default_factory=lambda: {1: "Default"})

    @property
    def uuid(self) -> str:
        """The workspace's immutable id (Bitbucket)."""
        return stable_uuid(self.forge, "owner", self.name)


class State:
    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.owners: dict[tuple[str, str], Owner] = {}
        self._ids = itertools.count(1001)

    def add_owner(self, forge: str, name: str) -> Owner:
        owner = Owner(forge, name, self.next_id())
        self.owners[(forge, name)] = owner
        return owner

    def owner(self, forge: str, key: str) -> Owner | None:
        """By name, or (GitLab) by numeric id."""
        return next(
            (o for (f, n), o in self.owners.items() if f == forge and key in (n, str(o.id))),
            None,
        )

    def next_id(self) -> int:
        return next(self._ids)

    def add_repo(self, forge: str, name: str) -> Repo:
        repo = Repo(forge, name, self.next_id())
        tree = repo.git.tree({"README.md": repo.git.blob(b"# demo\n")})
        repo.git.refs["heads/main"] = repo.git.commit(tree, [], "initial commit")
        self.repos[(forge, name)] = repo
        return repo

    def repo(self, forge: str, name: str) -> Repo | None:
        return self.repos.get((forge, name))

    def add_pr(self, repo: Repo, head_sha: str, branch: str = "feature") -> StoredPR:
        number = self.next_number(repo)
        pr = StoredPR(number, branch, head_sha, repo.default_branch, title=f"PR {number}")
        repo.pulls[number] = pr
        return pr

    def next_number(self, repo: Repo) -> int:
        return max([0, *repo.pulls]) + 1
