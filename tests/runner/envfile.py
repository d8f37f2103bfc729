"""systemd's EnvironmentFile reading, for tests that look at the agent's file without a machine.

The rules of systemd.exec(5) for the lines cmlinfra writes: ``NAME="VALUE"``, where inside
the double quotes a backslash escapes a backslash, a double quote, a dollar or a backtick (any
other backslash stays). tests/security/test_agent_env.py checks the same file with the real
systemd in a container.
"""

from __future__ import annotations

import re

_LINE = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_env_file(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.fullmatch(line)
        assert match, f'not a quoted NAME="VALUE" line: {line!r}'
        values[match[1]] = re.sub(r'\\([\\"$`])', r"\1", match[2])
    return values
