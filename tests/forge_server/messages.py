"""What flows between the fake server's core and its per-forge handlers: the parsed request,
the handler's reply, the call log, injected faults, and error bodies in each forge's shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request


@dataclass
class Req:
    forge: str
    method: str
    path: str  # raw path as sent
    template: str
    params: dict[str, str]
    query: dict[str, str]
    headers: Headers
    body: bytes
    request: Request

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int
    body: Any = None  # partial: completed from the response schema by Schemas.fill
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # body is final (error bodies), do not fill


@dataclass
class Call:
    forge: str
    method: str
    path: str
    status: int


@dataclass
class Fault:
    forge: str
    method: str
    pattern: str
    status: int
    message: str
    headers: dict[str, str]
    times: int | None  # None: every time


class NotFound(Exception):
    """A handler's 404."""


class Invalid(Exception):
    """A handler's 422 (GitHub) / 400 (others): valid shape, rejected by the forge's rules."""


REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
UNAUTHORIZED = {
    "github": "Bad credentials",
    "gitlab": "401 Unauthorized",
    "bitbucket": "Access token expired or invalid",
}


def error_reply(forge: str, status: int, message: str) -> Reply:
    """An error body in the forge's own shape."""
    if forge == "github":
        body: Any = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    elif forge == "gitlab":
        body = {"message": message}
    else:
        body = {"type": "error", "error": {"message": message}}
    return Reply(status, body, raw=True)
