"""Error classification shared by the clouds: each cloud's ``errors.py`` lists its own codes
and messages as :class:`Rule`\\ s; this module turns an exception or a Terraform error text
into the one string they are matched against, and applies the rules in order.

The retry policy (failover to another zone, region or cloud) lives elsewhere and reads only
:class:`~cmlinfra.clouds.base.ErrorKind`: the knowledge of what a cloud's message means stays
in that cloud's package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.errors import CmlinfraError, UsageError


@dataclass(frozen=True)
class Rule:
    """``pattern`` (a regular expression, searched case-sensitively) means ``kind``."""

    kind: ErrorKind
    pattern: str

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text) is not None


def error_text(error: BaseException | str) -> str:
    """Everything an error says: a botocore ``ClientError``'s code and message, a
    ``CmlinfraError``'s problem and fix (and a Terraform diagnostic's ``detail``), the chain
    of causes (a wrapped API error)."""
    if isinstance(error, str):
        return error
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            detail = response["Error"]
            parts.append(f"{detail.get('Code', '')}: {detail.get('Message', '')}")
        if isinstance(current, CmlinfraError):
            parts.append(f"{current.problem}; {current.fix}")
        else:
            parts.append(str(current))
        detail = getattr(current, "detail", None)  # a Terraform diagnostic's body
        if isinstance(detail, str) and detail:
            parts.append(detail)
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def classify(error: BaseException | str, rules: Iterable[Rule]) -> ErrorKind:
    """The kind of the first rule that matches; else cmlinfra's own ``UsageError`` (a request
    refused before anything was created) is a bad request, and anything else unknown."""
    text = error_text(error)
    for rule in rules:
        if rule.matches(text):
            return rule.kind
    return ErrorKind.BAD_REQUEST if isinstance(error, UsageError) else ErrorKind.UNKNOWN
