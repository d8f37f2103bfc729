"""Runner labels as each forge defines them, checked before anything is created.

A label travels to the forge's API and into the runner agent's environment file on the machine
(``ACTIONS_RUNNER_INPUT_LABELS``); a line break in one would add a line there. So every label
is checked against its forge's own rules, and the environment file is escaped as well
(:func:`cmlinfra.runner.agents.env_file`):

- GitHub: labels are comma-separated in ``config.sh --labels`` and case-insensitive; the
  just-in-time API takes 1 to 100. cmlinfra allows printable characters without whitespace
  or commas, at most 256 each (a whitespace in a label makes a runner that never matches
  ``runs-on``).
- GitLab: runner tags are a comma-separated ``tag_list``, at most 255 characters each
  (GitLab's model validation) and at most 50 per runner (beyond that GitLab stops handing the
  runner jobs).
- Bitbucket: labels may only contain lowercase letters, digits and dots, at most 10 custom
  labels per runner (``self.hosted`` and ``linux`` are added by cmlinfra).
"""

from __future__ import annotations

import re

from cmlinfra.errors import UsageError

# forge -> (one label, most labels, what the forge allows, in words)
RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "github": (
        re.compile(r"[!-+\--~]{1,256}"),  # printable ASCII except space and ','
        100,
        "printable characters without spaces or commas, at most 256",
    ),
    "gitlab": (
        re.compile(r"[^\x00-\x1f\x7f,\s](?:[^\x00-\x1f\x7f,]{0,253}[^\x00-\x1f\x7f,\s])?"),
        50,
        "no commas or control characters, no leading or trailing spaces, at most 255",
    ),
    "bitbucket": (re.compile(r"[a-z0-9.]{1,50}"), 10, "lowercase letters, digits and dots"),
}


def check(forge: str, labels: list[str]) -> list[str]:
    """``labels`` as given, if ``forge`` accepts every one; a one-line UsageError naming the
    first that it would not."""
    pattern, most, allowed = RULES[forge]
    for label in labels:
        if not pattern.fullmatch(label):
            raise UsageError(
                f"--labels {label!r} is not a valid {forge} runner label",
                f"use {allowed}",
            )
    if len(labels) > most:
        raise UsageError(
            f"--labels has {len(labels)} labels; a {forge} runner takes at most {most}",
            "drop some labels",
        )
    return labels
