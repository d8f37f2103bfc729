"""Trying a launch's candidates in turn until one machine exists (docs/failover.md).

:func:`lookup` asks each candidate's cloud (nothing is created): a candidate the cloud already
refuses for capacity, quota or spot price is set aside as a failed attempt, the others are
ordered cheapest first where their prices are known (``--cloud-spot-price`` drops those above
it). :meth:`Failover.run` then applies them one by one. What each failure means comes from the
candidate's cloud (``Cloud.classify_error``): capacity, quota and spot price move on to the
next candidate once the partial stack is destroyed and the cloud's inventory shows nothing of
it left; a transient error is retried in place with backoff; auth, bad request and anything
unknown fail at once. One progress line per attempt says what happened and what comes next.

The loop only needs "apply this prepared request" from its caller, so ``stack apply``, ``exec``
and ``runner launch`` (through ``Session.apply``) share it, and a later relaunch after a spot
reclaim can call :meth:`Failover.run` again on the candidates not yet tried
(:meth:`Failover.remaining`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from cmlinfra.clouds.base import ErrorKind
from cmlinfra.errors import CmlinfraError
from cmlinfra.stack.candidates import Candidate
from cmlinfra.ui import progress

T = TypeVar("T")
FAILOVER = frozenset({ErrorKind.CAPACITY, ErrorKind.QUOTA, ErrorKind.SPOT_PRICE})
TRIES = 3  # applies of one candidate when its errors are transient
BACKOFF_S = 2.0  # before the second try; doubled for each further one, with ±25 % jitter
LOOKUPS = 4  # candidates looked up at once
LAUNCHED = "launched"
OVER_CAP = "over_cap"  # its price is above --cloud-spot-price: not tried


@dataclass
class Attempt:
    """What happened to one candidate: launched, refused (the error kind) or not tried."""

    cloud: str
    region: str
    type: str
    spot: bool
    price: float | None  # USD per hour, as the look-up found it
    outcome: str  # "launched", an ErrorKind value, or "over_cap"
    error: str = ""  # the cloud's words, one line
    seconds: float = 0.0
    tries: int = 0  # applies made (0: refused before any, by the look-up or the cap)

    def label(self, with_cloud: bool = False) -> str:
        words = [self.cloud] if with_cloud else []
        return " ".join([*words, self.region, self.type, *(["spot"] if self.spot else [])])

    def line(self, with_cloud: bool = False) -> str:
        price = "" if self.price is None else f" (${self.price:.4g}/h)"
        why = self.outcome if not self.error else f"{self.outcome}: {self.error}"
        return f"{self.label(with_cloud)}{price}: {why}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 2)}


@dataclass
class Option:
    """A candidate after its look-ups: ``prepared`` (a ``stack.service.Prepared``) to try."""

    candidate: Candidate
    prepared: Any

    @property
    def price(self) -> float | None:
        return self.prepared.machine.hourly_price


# Terraform's own words around a cloud's message: the message is in the diagnostic's detail
GENERIC = re.compile(r"(?:local-exec provisioner error|Resource (?:pre|post)condition failed)$")
COMMAND_OUTPUT = re.compile(r"^Error running command '.*?': exit status \d+\. Output: ", re.S)


def reason(error: BaseException) -> str:
    """The cloud's own words, without the wrappers around them, on one short line."""
    text = error.problem if isinstance(error, CmlinfraError) else str(error)
    text = re.sub(r"^apply of stack \S+ failed: |; what it created was destroyed$", "", text)
    text = re.sub(r"^terraform apply failed: ", "", " ".join(text.split()))
    text = re.sub(r"^\S+\.tf(?:\.json)?:\d+: ", "", text)  # where in the module: not news
    detail = _detail(error)
    if GENERIC.search(text) and detail:
        text = " ".join(COMMAND_OUTPUT.sub("", detail).split())
    text = re.sub(r"^Error: ", "", text)
    return text if len(text) <= 160 else text[:159] + "…"


def _detail(error: BaseException) -> str:
    current: BaseException | None = error
    while current is not None:
        detail = getattr(current, "detail", None)
        if isinstance(detail, str) and detail:
            return detail
        current = current.__cause__
    return ""


def backoff(tries: int) -> float:
    """Seconds before try ``tries + 1``: 2, 4, … with ±25 % jitter (parallel launches that
    failed together do not retry together)."""
    return BACKOFF_S * 2 ** (tries - 1) * random.uniform(0.75, 1.25)


@dataclass
class Failover:
    """One launch's candidates, their look-ups and attempts."""

    candidates: list[Candidate]
    terraform: str | None = None
    state: str | None = None
    say: Callable[[str], None] = progress
    sleep: Callable[[float], None] = time.sleep
    options: list[Option] = field(default_factory=list)  # to try, in order
    attempts: list[Attempt] = field(default_factory=list)
    chosen: Option | None = None

    @property
    def single(self) -> bool:
        """One candidate: today's launch, whose errors are raised as they come."""
        return len(self.candidates) == 1

    @property
    def several_clouds(self) -> bool:
        return len({c.cloud for c in self.candidates}) > 1

    def lookup(self) -> Any:
        """Look every candidate up (in parallel; nothing is created), order them, and return
        the first ``Prepared`` to try. Raises at once on auth, bad request or unknown."""
        from cmlinfra.stack import service

        def one(c: Candidate) -> Any:
            return service.prepare(c.request, c.cloud, terraform=self.terraform, state=self.state)

        if self.single:
            self.options = [Option(self.candidates[0], one(self.candidates[0]))]
            return self.options[0].prepared
        with ThreadPoolExecutor(max_workers=LOOKUPS) as pool:
            futures = [(c, pool.submit(one, c)) for c in self.candidates]
        found: list[Option] = []
        for candidate, future in futures:  # the user's order: the first fatal error is raised
            error = future.exception()
            if error is None:
                found.append(Option(candidate, future.result()))
                continue
            kind = _classify(candidate.cloud, error)
            if kind not in FAILOVER or not isinstance(error, CmlinfraError):
                raise error
            self.attempts.append(_refused(candidate, kind.value, reason(error)))
        for option in sorted(found, key=_cheapest):
            cap, price = option.candidate.cap, option.price
            if cap is not None and price is not None and price > cap:
                refusal = f"${price:.4g}/h is above --cloud-spot-price {cap:g}"
                self.attempts.append(_attempt(option, OVER_CAP, refusal))
            else:
                self.options.append(option)
        if not self.options:
            raise self.exhausted()
        ahead = len(self.options) - 1
        if ahead:
            listed = ", ".join(self._label(o) for o in self.options)
            self.say(f"{len(self.options)} candidates, in the order they will be tried: {listed}")
        return self.options[0].prepared

    def remaining(self) -> list[Option]:
        """The candidates after the one chosen (a relaunch's next choices)."""
        if self.chosen is None:
            return list(self.options)
        return self.options[self.options.index(self.chosen) + 1 :]

    def run(
        self,
        attempt: Callable[[Any], T],
        switch: Callable[[Any], None] | None = None,
        options: list[Option] | None = None,
    ) -> T:
        """``attempt(prepared)`` for each option in turn (``switch(prepared)`` first) until
        one succeeds; what each failure means decides whether the next one is tried."""
        todo = self.options if options is None else options
        for i, option in enumerate(todo):
            if switch is not None:
                switch(option.prepared)
            started, tries = time.monotonic(), 0
            while True:
                tries += 1
                try:
                    result = attempt(option.prepared)
                except CmlinfraError as exc:
                    kind = _classify(option.candidate.cloud, exc)
                    last = kind != ErrorKind.TRANSIENT or tries >= TRIES
                    if not (self.single and last):
                        self._nothing_left(option, exc)
                    if not last:
                        delay = backoff(tries)
                        self.say(
                            f"{self._label(option)}: transient: {reason(exc)}; trying it again "
                            f"in {delay:.1f}s ({tries + 1}/{TRIES})"
                        )
                        self.sleep(delay)
                        continue
                    spent = time.monotonic() - started
                    self.attempts.append(_attempt(option, kind.value, reason(exc), spent, tries))
                    if self.single:
                        raise
                    if kind not in FAILOVER:
                        self.say(
                            f"{self._label(option)}: {kind.value}: {reason(exc)}; not tried "
                            "elsewhere: no other candidate would fare better"
                        )
                        raise
                    after = todo[i + 1] if i + 1 < len(todo) else None
                    then = f" → trying {self._label(after)} …" if after else ""
                    self.say(f"{self._label(option)}: {reason(exc)}{then}")
                    break
                spent = time.monotonic() - started
                self.attempts.append(_attempt(option, LAUNCHED, "", spent, tries))
                self.chosen = option
                return result
        raise self.exhausted()

    def exhausted(self) -> CmlinfraError:
        """Every candidate failed: one line each (progress), and the error to raise."""
        several = self.several_clouds
        self.say(f"no candidate could be launched ({len(self.attempts)} tried):")
        for number, attempt in enumerate(self.attempts, 1):
            self.say(f"  {number}. {attempt.line(several)}")
        kinds = {a.outcome for a in self.attempts}
        fixes = []
        if kinds & {ErrorKind.CAPACITY.value}:
            fixes.append("add regions or types (--cloud-region any), or try later")
        if kinds & {ErrorKind.QUOTA.value}:
            fixes.append("ask the cloud for more quota")
        if kinds & {ErrorKind.SPOT_PRICE.value, OVER_CAP}:
            fixes.append("raise --cloud-spot-price, or allow on-demand (--cloud-spot auto)")
        return CmlinfraError(
            f"none of the {len(self.attempts)} candidate machines could be launched "
            f"({', '.join(sorted(kinds))})",
            "; ".join(fixes) or "see the lines above",
        )

    def _label(self, option: Option) -> str:
        machine = option.prepared.machine
        words = [machine.cloud] if self.several_clouds else []
        words += [machine.region, machine.instance_type]
        return " ".join([*words, "spot"] if machine.request.spot else words)

    def _nothing_left(self, option: Option, error: CmlinfraError) -> None:
        """After a failed apply: the stack is gone (its own teardown succeeded) and the
        cloud's inventory holds no machine of this name in that region (any left is deleted,
        and said). Otherwise trying elsewhere could leave a machine billing: raise."""
        from cmlinfra.clouds import get_cloud
        from cmlinfra.clouds.base import SweepScope

        prepared = option.prepared
        if prepared.stack.exists():
            raise error  # the teardown of this attempt failed: its error says what to run
        cloud = get_cloud(option.candidate.cloud)
        if not cloud.info.capabilities.has_inventory:
            return
        machine = prepared.machine
        try:
            inventory = cloud.inventory(SweepScope(record_regions=(machine.region,)))
            for found in inventory.machines() if inventory is not None else []:
                if found.stack == machine.request.name:
                    self.say(f"deleting {found.cloud} {found.id} ({found.region}), left by it")
                    inventory.delete(found)  # type: ignore[union-attr]
        except CmlinfraError as exc:
            raise CmlinfraError(
                f"{error.problem}; and whether anything was left could not be checked "
                f"({exc.problem})",
                "run 'cmlinfra gc' before trying again",
            ) from error


def _classify(cloud: str, error: BaseException) -> ErrorKind:
    from cmlinfra.clouds import get_cloud

    return get_cloud(cloud).classify_error(error)


def _cheapest(option: Option) -> tuple[bool, float, int]:
    """Known prices first, cheapest first; unknown ones after, in the user's order."""
    price = option.price
    return (price is None, price or 0.0, option.candidate.index)


def _refused(candidate: Candidate, outcome: str, error: str) -> Attempt:
    r = candidate.request
    region = r.region or "(default region)"
    kind = r.cloud_type + (f"+{r.gpu}" if r.gpu else "")
    return Attempt(candidate.cloud, region, kind, r.spot, None, outcome, error)


def _attempt(
    option: Option, outcome: str, error: str, seconds: float = 0.0, tries: int = 0
) -> Attempt:
    machine = option.prepared.machine
    return Attempt(
        cloud=machine.cloud,
        region=machine.region,
        type=machine.instance_type,
        spot=machine.request.spot,
        price=machine.hourly_price,
        outcome=outcome,
        error=error,
        seconds=seconds,
        tries=tries,
    )


def plan(
    cloud: str,
    request: Any,
    candidates: list[Candidate] | None = None,
    *,
    terraform: str | None = None,
    state: str | None = None,
    role: Callable[[Any], Any] | None = None,
) -> Failover:
    """The launch's :class:`Failover`: ``candidates`` (from :func:`candidates.build`), or the
    one machine ``request`` on ``cloud``; ``role`` rewrites each request (gc's role tag)."""
    import dataclasses

    found = candidates or [Candidate(cloud, request)]
    if role is not None:
        found = [dataclasses.replace(c, request=role(c.request)) for c in found]
    return Failover(found, terraform=terraform, state=state)
