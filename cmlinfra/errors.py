"""The one error type users see.

Every failure a user can fix is raised as :class:`CmlinfraError` with the problem and the fix,
and the CLI prints it as a single line with a non-zero exit. Anything else is a bug and gets a
traceback only under ``--log debug``.
"""

from __future__ import annotations


class CmlinfraError(Exception):
    """A failure the user can act on: ``problem`` says what went wrong, ``fix`` what to do."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem.strip().rstrip(".")
        self.fix = fix.strip().rstrip(".")
        super().__init__(self.line())

    def line(self) -> str:
        """The single line printed to the user."""
        text = self.problem if not self.fix else f"{self.problem}; {self.fix}"
        return " ".join(text.split())


class UsageError(CmlinfraError):
    """Bad input on the command line or in the environment (exit code 2)."""

    exit_code = 2
