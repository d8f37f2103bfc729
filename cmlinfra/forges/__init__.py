"""Forge drivers (GitHub, GitLab, Bitbucket Cloud) behind one :class:`~cmlinfra.forges.base.Forge`
interface. Knows nothing about clouds or SSH; ``cmlinfra.runner`` composes it with them."""

from __future__ import annotations

from cmlinfra.forges.base import (
    Comment,
    FileChange,
    Forge,
    PullRequest,
    Runner,
    RunnerRegistration,
    Target,
)

__all__ = [
    "Comment",
    "FileChange",
    "Forge",
    "PullRequest",
    "Runner",
    "RunnerRegistration",
    "Target",
    "connect",
]


def connect(context: object) -> Forge:
    """The driver for a :class:`~cmlinfra.forges.context.ForgeContext`."""
    from cmlinfra.forges.context import ForgeContext

    assert isinstance(context, ForgeContext)
    if context.driver == "github":
        from cmlinfra.forges.github import GitHub

        return GitHub(context)
    if context.driver == "gitlab":
        from cmlinfra.forges.gitlab import GitLab

        return GitLab(context)
    from cmlinfra.forges.bitbucket import Bitbucket

    return Bitbucket(context)
