"""Turning terraform's error diagnostics into one line that says what to do.

Terraform's messages are long and written for someone at a terminal; a CI log needs the cause
and the fix in one line. Each recognizer below matches one family of failures seen on the
supported versions (the wording differs between the AWS SDKs of 1.0 and >= 1.6).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cmlinfra.errors import CmlinfraError


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None

    def text(self) -> str:
        return f"{self.summary}\n{self.detail}"

    def one_line(self) -> str:
        where = f"{self.filename}:{self.line}: " if self.filename and self.line else ""
        return " ".join(f"{where}{self.summary}".split())


def from_json(raw: dict) -> Diagnostic:
    """A ``diagnostic`` object of the ``-json`` UI stream."""
    start = (raw.get("range") or {}).get("start") or {}
    return Diagnostic(
        severity=str(raw.get("severity", "error")),
        summary=str(raw.get("summary", "")).strip(),
        detail=str(raw.get("detail", "")).strip(),
        filename=(raw.get("range") or {}).get("filename"),
        line=start.get("line"),
    )


_BOX = re.compile(r"^[│╷╵]\s?", re.MULTILINE)
_LOCATION = re.compile(r"^\s*on (\S+) line (\d+)", re.MULTILINE)


def from_text(text: str) -> list[Diagnostic]:
    """Diagnostics in human output (``init`` has no ``-json`` before terraform 1.9): each starts
    with ``Error:`` or ``Warning:``, inside ``╷ │ ╵`` boxes on newer versions."""
    text = _BOX.sub("", text)
    found = []
    for block in re.split(r"\n(?=(?:Error|Warning): )", "\n" + text):
        match = re.match(r"(Error|Warning): (.*)", block.strip())
        if not match:
            continue
        detail = block.strip()[match.end() :].strip()
        where = _LOCATION.search(detail)
        found.append(
            Diagnostic(
                severity=match[1].lower(),
                summary=match[2].strip(),
                detail=detail,
                filename=where[1].rstrip(",") if where else None,
                line=int(where[2]) if where else None,
            )
        )
    return found


class StateLockedError(CmlinfraError):
    """The state lock is held; ``lock_id`` names the holder's lock."""

    def __init__(self, problem: str, fix: str, lock_id: str) -> None:
        super().__init__(problem, fix)
        self.lock_id = lock_id


def _lock_error(diag: Diagnostic, backend: str) -> CmlinfraError | None:
    if "Lock Info:" not in diag.detail:  # only a lock held by someone else says who holds it
        return None
    info = dict(re.findall(r"^\s*(ID|Path|Operation|Who|Created):\s*(.*?)\s*$", diag.detail, re.M))
    lock_id = info.get("ID", "LOCK_ID")
    who = info.get("Who") or "another run"
    since = re.sub(r"\.\d+", "", info.get("Created", "")).strip()
    operation = info.get("Operation", "").replace("OperationType", "").lower()
    problem = f"state is locked by {who}" + (f" since {since}" if since else "")
    if operation:
        problem += f" ({operation}, lock ID {lock_id})"
    return StateLockedError(
        problem,
        f"wait for that run to finish, or if it died run `cmlinfra gc` / "
        f"`terraform force-unlock {lock_id}` in the stack directory",
        lock_id,
    )


_UNREACHABLE = re.compile(
    r"connection refused|no such host|i/o timeout|dial tcp|RequestError: send request failed|"
    r"connect: network is unreachable|context deadline exceeded|max retries",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"dial tcp ([\w.\-:\[\]]+)|(https?://[^/\s\"]+)")


def _unreachable_error(diag: Diagnostic, backend: str) -> CmlinfraError | None:
    if not _UNREACHABLE.search(diag.text()):
        return None
    address = _ADDRESS.search(diag.text())
    where = f" at {address[1] or address[2]}" if address else ""
    kind = {"s3": "S3 backend", "": "backend"}.get(backend, f"{backend} backend")
    return CmlinfraError(
        f"cannot reach the {kind}{where}",
        "check --state, the credentials and the endpoint, and that the network allows it",
    )


def _aws_error(diag: Diagnostic, backend: str) -> CmlinfraError | None:
    text = diag.text()
    if re.search(r"NoSuchBucket|bucket does not exist", text):
        return CmlinfraError(
            "the S3 bucket for the state does not exist", "create it or fix the bucket in --state"
        )
    if re.search(r"ResourceNotFoundException|Requested resource not found", text):
        return CmlinfraError(
            "the DynamoDB lock table for the state does not exist",
            "create it (hash key LockID, string) or use ?lock=lockfile in --state",
        )
    if re.search(
        r"NoCredentialProviders|no valid credential sources|failed to refresh cached credentials"
        r"|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|AccessDenied",
        text,
    ):
        return CmlinfraError(
            "the S3 backend refused the AWS credentials (or found none)",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY for the state bucket",
        )
    return None


def stale_plan_error() -> CmlinfraError:
    return CmlinfraError(
        "the state changed since this plan was made (another run applied first)",
        "plan again and review the new plan",
    )


def _stale_plan(diag: Diagnostic, backend: str) -> CmlinfraError | None:
    return stale_plan_error() if "saved plan is stale" in diag.text().lower() else None


def _provider_error(diag: Diagnostic, backend: str) -> CmlinfraError | None:
    if not re.search(
        r"Failed to (query|install) (available )?provider|Failed to install provider|"
        r"provider registry|could not connect to registry|Incompatible provider version|"
        r"not available in the (filesystem )?mirror",
        diag.text(),
        re.IGNORECASE,
    ):
        return None
    found = re.search(r"provider\s+(?:registry\.terraform\.io/)?([\w.-]+/[\w.-]+)", diag.text())
    what = f"provider {found[1]}" if found else "a provider"
    return CmlinfraError(
        f"terraform could not install {what}: {diag.one_line()}",
        "put the provider in a filesystem mirror and point CMLINFRA_PROVIDER_MIRROR at it "
        "(see docs/terraform.md), or allow access to the registry",
    )


def _backend_changed(diag: Diagnostic, backend: str) -> CmlinfraError | None:
    if not re.search(r"Backend configuration changed|Backend initialization required", diag.text()):
        return None
    return CmlinfraError(
        "the state backend of this stack directory changed since it was initialized",
        "run `terraform init -migrate-state` in the stack directory to move the state, "
        "or delete its .terraform folder to start from the new backend",
    )


RECOGNIZERS = (  # order matters: a registry that cannot be reached is a provider problem
    _lock_error,
    _stale_plan,
    _provider_error,
    _aws_error,
    _unreachable_error,
    _backend_changed,
)
_PREAMBLE = "Terraform encountered problems during initiali"  # says "see below", nothing more


def explain(
    command: str, errors: Iterable[Diagnostic], stderr: str = "", backend: str = ""
) -> CmlinfraError:
    """One :class:`CmlinfraError` for a failed terraform command (``backend``: its kind)."""
    errors = list(errors) or [d for d in from_text(stderr) if d.severity == "error"]
    if not errors and stderr.strip():  # e.g. 1.0's "Error refreshing state: ..." lines
        head, _, rest = stderr.strip().partition("\n")
        errors = [Diagnostic("error", head.strip(), rest.strip())]
    unique = {d.one_line(): d for d in errors if not d.summary.startswith(_PREAMBLE)}
    errors = list(unique.values()) or errors
    for diag in errors:
        for recognize in RECOGNIZERS:
            found = recognize(diag, backend)
            if found is not None:
                return found
    if errors:
        first: Diagnostic = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        fix = (
            "fix the stack configuration (run with --log debug for terraform's full message)"
            if first.filename
            else "run with --log debug for terraform's full message"
        )
        error = CmlinfraError(f"terraform {command} failed: {first.one_line()}{more}", fix)
        # the body of terraform's message, for whoever must tell what it means (a cloud's
        # error classification: a provisioner's output, a provider's detail, lives there)
        error.detail = "\n".join(d.detail for d in errors if d.detail)  # type: ignore[attr-defined]
        return error
    last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
    return CmlinfraError(
        f"terraform {command} failed" + (f": {last.strip()}" if last else ""),
        "run with --log debug for terraform's full output",
    )
