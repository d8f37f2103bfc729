"""The seam between cmlinfra and a forge: one Protocol, plain dataclasses.

Every driver answers the same questions (which PR holds this commit, what comments are on it,
where does this image go) so commands and the runner lifecycle never branch on the forge.
What a forge cannot do raises :class:`~cmlinfra.errors.CmlinfraError` saying so, rather than
silently doing something else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from cmlinfra.errors import CmlinfraError
from cmlinfra.secrets import Secret

if TYPE_CHECKING:
    from cmlinfra.forges.context import ForgeContext

TargetKind = Literal["pr", "commit", "issue"]


@dataclass(frozen=True)
class Target:
    """Where a comment goes: a pull/merge request or issue (by number) or a commit (by SHA)."""

    kind: TargetKind
    ref: str

    def __str__(self) -> str:
        return f"{self.kind} {self.ref[:12] if self.kind == 'commit' else '#' + self.ref}"


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head_branch: str = ""
    base_branch: str = ""
    head_sha: str = ""
    # what --merge/--squash/--rebase did: "auto-merge-enabled" (the forge merges once checks
    # pass), "merged" (right away), or "" (not asked)
    merge: str = ""
    merge_method: str = ""  # merge | squash | rebase, when ``merge`` is set
    merge_note: str = ""  # why, when it is not the usual: "no required checks on main", ...
    reused: bool = False  # an open PR for the branch was found: reused, files not recommitted


@dataclass(frozen=True)
class Comment:
    id: str
    body: str
    url: str = ""
    thread: str = ""  # GitLab commit comments live in a discussion: its id


@dataclass(frozen=True)
class Runner:
    id: str
    name: str
    labels: tuple[str, ...] = ()
    status: str = ""  # online / offline / … as the forge says
    busy: bool = False


@dataclass(frozen=True)
class LostJob:
    """A CI job that ran on one of our runners and ended failed or cancelled: what a reclaimed
    spot machine leaves behind. ``retried``: the forge says it was re-run already, or is itself
    a re-run (GitHub attempt > 1, a same-named job in its GitLab pipeline), so ``gc`` leaves it:
    a job is re-run once, not once per reclaim."""

    id: str  # the forge's job id (digits, checked again where it goes into a URL)
    run_id: str  # its workflow run (GitHub) or pipeline (GitLab)
    name: str
    url: str = ""
    conclusion: str = ""  # failure | cancelled (GitHub), failed | canceled (GitLab)
    retried: str = ""  # why it is not re-run again; "" when it may be
    # the job of the same run that launched the runner (``runner launch`` in CI): re-run with
    # it, or the re-run job would wait for a runner nobody launches
    via: str = ""
    # why it cannot be re-run yet ("" when it can): still running at the forge (which has not
    # noticed its runner is gone), or its GitHub run has not finished
    pending: str = ""
    # what a re-run starts again: "job" (that job: GitHub, GitLab) or "pipeline" (Bitbucket,
    # whose API re-runs nothing smaller than a whole pipeline: gc starts one per pipeline,
    # however many of its steps were lost)
    unit: str = "job"
    # the id the forge's API takes for the run where ``run_id`` is what its pages show
    # (Bitbucket: the pipeline's UUID; ``run_id`` is its build number)
    run_key: str = ""


@dataclass(frozen=True)
class RunnerRegistration:
    """What a machine needs to register as a runner. ``token`` is a JIT config (GitHub
    ``--jitconfig``), a registration token (GitHub ``config.sh --token``), a runner
    authentication token (GitLab ``glrt-…``) or an OAuth client secret (Bitbucket)."""

    forge: str
    kind: Literal["jit-config", "registration-token", "runner-token", "oauth-client"]
    url: str  # the repository/instance URL the agent registers against
    token: Secret
    runner_id: str = ""  # known up front for JIT / GitLab / Bitbucket; "" for a GitHub token
    # where the runner is registered: repository, or organization / group / workspace
    # (a pool for all of its repositories) — as the forge resolved it
    scope: str = "repository"
    expires_at: str = ""
    labels: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # e.g. Bitbucket's OAuth client id


@dataclass(frozen=True)
class FileChange:
    path: str  # repository-relative, forward slashes
    content: bytes | None  # None: the commit deletes the file


Author = tuple[str, str]  # (name, email) a commit is authored by; None: the token's user


AutoMerge = Literal["merge", "squash", "rebase"]
MergeOutcome = Literal["auto-merge-enabled", "merged"]


class Forge(Protocol):
    """One driver per forge. Methods either do what they say or raise CmlinfraError."""

    name: str
    comment_limit: int  # characters one comment may hold
    ctx: ForgeContext  # what it was connected to; its scope decides where runners live

    def pr_for_commit(self, sha: str) -> PullRequest | None: ...

    def list_comments(self, target: Target) -> list[Comment]: ...

    def create_comment(self, target: Target, body: str) -> Comment: ...

    def update_comment(self, target: Target, comment: Comment, body: str) -> Comment: ...

    def upload_asset(self, path: Path, mime: str) -> str:
        """Store a file on the forge itself and return a URL a comment can embed."""
        ...

    def create_pr(
        self,
        *,
        base: str,
        branch: str,
        title: str,
        body: str,
        message: str,
        files: list[FileChange],
        auto_merge: AutoMerge | None = None,
        author: Author | None = None,
    ) -> PullRequest: ...

    def create_check(
        self,
        *,
        sha: str,
        name: str,
        title: str,
        conclusion: str,
        summary: str,
        status: str = "completed",
    ) -> str: ...

    def rerun_workflow(self, run_id: str) -> dict[str, str] | None:
        """Run a workflow run / pipeline again. Where the forge starts a new one instead of
        re-running it in place (Bitbucket), what it started: ``pipeline`` (its number),
        ``rerun_of`` (the old one's), ``uuid``, ``url``, and a ``note`` on what could not be
        carried over."""
        ...

    # re-running a job also re-runs the jobs that need it (GitHub; Bitbucket, which starts
    # the whole pipeline again), or only that job (GitLab)
    rerun_brings_dependents: bool

    def lost_jobs(
        self, runner_name: str, runner_id: str, since: float, launched_by: dict[str, str]
    ) -> list[LostJob]:
        """Jobs that ran on this runner (by id when known, else by name), started at or after
        ``since`` (epoch seconds: when the runner's record was written) and ended failed or
        cancelled, and those still running there (``pending``). ``launched_by`` (the
        record's) names the CI job that launched the runner: each lost job's ``via`` when it
        is of the same run. Raises :class:`Unsupported` where the forge cannot tell (Bitbucket,
        for a runner not launched from one of its pipelines)."""
        ...

    def rerun_job(self, job: LostJob) -> str | None:
        """Re-run one job (by ``job.id``; on GitHub with the jobs that need it), or, where
        ``job.unit`` is ``pipeline``, its whole pipeline; then says how, for the report."""
        ...

    def runner_registration(
        self, *, name: str, labels: list[str], jit: bool = True
    ) -> RunnerRegistration:
        """Material for one machine to register. ``jit`` (GitHub only): a just-in-time config
        for one job; ``False`` gives a registration token for ``config.sh`` instead."""
        ...

    # Runners live where ``ctx.scope`` says: the repository's own, or the organization /
    # group / workspace pool shared by all its repositories; the methods are the same.
    def check_runner_access(self) -> None:
        """Fail now, in one line, where runners could not be registered later (no such owner,
        a token without the runner permission, an unknown runner group): ``runner launch``
        calls it before a machine exists."""
        ...

    def list_runners(self) -> list[Runner]: ...

    def remove_runner(self, runner_id: str) -> None: ...


class Unsupported(CmlinfraError):
    """An operation the forge's API does not offer: a caller that can do without it (``gc``
    re-running lost jobs on Bitbucket) says so in one line instead of failing."""


def unsupported(forge: str, what: str, instead: str = "") -> CmlinfraError:
    """The error for an operation a forge's API does not offer."""
    return Unsupported(
        f"{what} is not supported on {forge}: its API has no such operation",
        instead or "run this step on GitHub, or leave it out of the workflow",
    )
