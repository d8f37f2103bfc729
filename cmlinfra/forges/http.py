"""HTTP for forge APIs: one ``requests`` session with bounded retries and readable errors.

urllib3's ``Retry`` handles 5xx and 429 (honouring ``Retry-After``). GitHub also signals rate
limits with **403** — the secondary rate limit (``retry-after``) and the primary one
(``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``) — which urllib3 cannot tell apart
from a permission error, so :meth:`ForgeHTTP.request` waits for those itself. Every wait is
capped (``max_wait``): a forge asking for an hour fails with a clear error instead of hanging CI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges.paths import check_path
from cmlinfra.secrets import redact

log = logging.getLogger("cmlinfra.forges")

MAX_WAIT = 60.0  # seconds: the longest single wait a forge may ask for
RATE_LIMIT_TRIES = 3
BACKOFF = 0.5  # seconds, doubled per retry after the first (urllib3's exponential backoff)


class _BoundedRetry(Retry):
    """``Retry`` whose ``Retry-After`` waits never exceed :data:`MAX_WAIT`."""

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_WAIT)


def _session(retries: int) -> requests.Session:
    retry = _BoundedRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=BACKOFF,
        backoff_max=MAX_WAIT,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # POST too: comment writes are upserts, git writes are idempotent
        respect_retry_after_header=True,
        raise_on_status=False,  # hand back the last response so the error names the status
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


ErrorMapper = Callable[[requests.Response], CmlinfraError | None]


class ForgeHTTP:
    """Requests against one forge API. ``auth`` returns headers carrying the revealed token:
    it is called per request so the token is only ever unwrapped at the wire."""

    def __init__(
        self,
        base_url: str,
        auth: Callable[[], Mapping[str, str]],
        *,
        forge: str,
        errors: ErrorMapper,
        headers: Mapping[str, str] | None = None,
        retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.forge = forge
        self._auth = auth
        self._errors = errors
        self._session = _session(retries)
        self._session.headers.update({"User-Agent": "cmlinfra", **(headers or {})})
        self._timeout = timeout
        self.calls = 0  # requests sent (retries included): benchmarks count API calls

    def url(self, path: str) -> str:
        """The full URL of ``path``. An absolute URL (a pagination link the forge sent) must
        be on the API's own origin, and no path may hold a dot segment: the token is sent
        with every request, so it only ever goes where the API's own paths lead."""
        check_path(urlsplit(path).path if "://" in path else path)
        if not path.startswith(("http://", "https://")):
            return self.base_url + path
        there, here = urlsplit(path), urlsplit(self.base_url)
        if (there.scheme, there.netloc.lower()) != (here.scheme, here.netloc.lower()):
            raise CmlinfraError(
                f"the {self.forge} API pointed to {there.scheme}://{there.netloc}, not "
                f"{here.scheme}://{here.netloc}: not sending the token there",
                "check the API URL (GITHUB_API_URL, CI_SERVER_URL, --repo)",
            )
        return path

    def request(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        """Send, waiting out GitHub-style 403 rate limits; raise a CmlinfraError on failure
        (except for the statuses in ``allow``, which the caller handles)."""
        url = self.url(path)
        for attempt in range(RATE_LIMIT_TRIES + 1):
            self.calls += 1
            try:
                response = self._session.request(
                    method, url, headers=dict(self._auth()), timeout=self._timeout, **kwargs
                )
            except requests.RequestException as exc:
                raise CmlinfraError(
                    f"cannot reach the {self.forge} API at {self.base_url}: "
                    f"{redact(type(exc).__name__)}",
                    "check the network and the API URL (GITHUB_API_URL, CI_SERVER_URL, --repo)",
                ) from None
            wait = _rate_limit_wait(response)
            if wait is None or attempt == RATE_LIMIT_TRIES:
                break
            if wait > MAX_WAIT:
                raise CmlinfraError(
                    f"the {self.forge} API rate limit is exhausted for {wait:.0f}s",
                    "retry later, or use a token with a higher rate limit",
                )
            log.info("%s API rate limit: waiting %.0fs before retrying", self.forge, wait)
            time.sleep(wait)
        if response.status_code >= 400 and response.status_code not in allow:
            raise self._errors(response) or generic_error(self.forge, method, path, response)
        return response

    def error_for(self, response: requests.Response) -> CmlinfraError | None:
        """The forge-specific error for a failed response (401, permissions), if any."""
        return self._errors(response)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def paginate(
        self, path: str, params: Mapping[str, Any] | None = None, *, key: str = ""
    ) -> Iterator[Any]:
        """Every item of a listing: follows ``Link: rel=next`` (GitHub, GitLab), GitLab's
        ``x-next-page`` and Bitbucket's ``next`` field. ``key`` picks the list out of an
        object body (``runners`` on GitHub, ``values`` on Bitbucket)."""
        url: str | None = path
        query: dict[str, Any] | None = dict(params or {})
        pages = 0
        while url and pages < 100:  # bounded: 100 pages of 100 is more than any report needs
            pages += 1
            response = self.request("GET", url, params=query)
            body = response.json()
            items = body.get(key, []) if key else body
            yield from items
            nxt = response.links.get("next", {}).get("url")
            if not nxt and response.headers.get("x-next-page"):
                query = {**(query or {}), "page": response.headers["x-next-page"]}
                continue
            if not nxt and isinstance(body, dict) and body.get("next"):
                nxt = body["next"]
            url, query = nxt, None  # the next URL carries the query already


def _rate_limit_wait(response: requests.Response) -> float | None:
    """Seconds to wait for a GitHub 403 rate limit, or None if this is not one."""
    if response.status_code != 403:
        return None
    headers = response.headers
    if headers.get("retry-after"):
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            return None
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        try:
            return max(0.0, float(headers["x-ratelimit-reset"]) - time.time())
        except ValueError:
            return None
    return None


def message_of(response: requests.Response) -> str:
    """The forge's own error message, if the body has one (never the request)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str | list):
                return redact(str(value))
    return response.reason or ""


def left_open(pull: str, url: str = "") -> str:
    """The end of every refusal after the PR exists: it is there, untouched, for a person."""
    return f"{pull} stays open, not merged and not set to merge" + (f" ({url})" if url else "")


def merge_refused(
    forge: str, response: requests.Response, *, pull: str, url: str, fix: str
) -> CmlinfraError:
    """A merge the forge refused (not mergeable, checks pending, head moved) once the PR
    exists: one line that says so, that the PR stays open, and what to do."""
    detail = message_of(response)
    status = f"HTTP {response.status_code}{': ' + detail if detail else ''}"
    return CmlinfraError(f"{forge} refused to merge {pull} ({status}); {left_open(pull, url)}", fix)


def generic_error(forge: str, method: str, path: str, response: requests.Response) -> CmlinfraError:
    status = response.status_code
    what = f"{forge} API {method} {path.split('?')[0]} failed with HTTP {status}"
    detail = message_of(response)
    if status == 404:
        return CmlinfraError(
            f"{what} (not found{': ' + detail if detail else ''})",
            "check the repository name and that the token can see it",
        )
    if status == 429 or status >= 500:
        return CmlinfraError(
            f"{what} after retries{': ' + detail if detail else ''}",
            f"the {forge} API is unavailable or rate limiting; retry the job later",
        )
    return CmlinfraError(f"{what}{': ' + detail if detail else ''}")
