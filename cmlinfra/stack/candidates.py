"""The machines a launch may land on, in the order they are tried (docs/failover.md).

``--cloud aws,gcp``, ``--cloud-region us-west,us-east`` (or ``any``), ``--cloud-type
m+t4,m+a10g`` and ``--cloud-spot auto`` (spot first, then on-demand) each name a list; their
product is the launch's candidates, in the user's order: every spot candidate before any
on-demand one, then cloud, type and region in the order given. A single value of each (a CML
workflow) is one candidate: today's launch, unchanged. Every candidate is checked offline here
— a typo in the third one fails at once, before anything is asked of a cloud or created.
Ordering by price needs the clouds' look-ups, so it happens in :mod:`cmlinfra.stack.failover`.

Stdlib and the cloud registry only at import time: the CLI builds candidates before anything
heavy is loaded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cmlinfra.clouds.base import MachineRequest
from cmlinfra.errors import UsageError

ANY = "any"
MAX_CANDIDATES = 32  # each is looked up before the first apply: a bound on that cost
SPOT_MODES: dict[str, tuple[bool, ...]] = {
    "": (False,),
    "false": (False,),
    "no": (False,),
    "off": (False,),
    "0": (False,),
    "true": (True,),
    "yes": (True,),
    "on": (True,),
    "1": (True,),
    "auto": (True, False),
}
SPOT_HELP = (
    "Spot/preemptible machines. --cloud-spot alone (CML's flag) or 'true': spot only; 'auto': "
    "spot first, then on-demand if no spot machine can be had (docs/failover.md)."
)


@dataclass(frozen=True)
class Candidate:
    """One machine a launch may land on: a cloud and a request for one region, type and spot
    choice. ``cap`` is ``--cloud-spot-price`` as a cost cap where the request cannot carry it
    as a bid (an on-demand candidate of ``--cloud-spot auto``); ``index`` its place in the
    user's order."""

    cloud: str
    request: MachineRequest
    index: int = 0
    cap: float | None = None

    def label(self, with_cloud: bool = False) -> str:
        """``us-west m+t4 spot`` (before the look-ups: the user's spellings)."""
        r = self.request
        words = [self.cloud] if with_cloud else []
        words += [r.region or "(default region)", r.cloud_type + (f"+{r.gpu}" if r.gpu else "")]
        return " ".join([*words, "spot"] if r.spot else words)


def parse_list(value: str | None, option: str) -> tuple[str, ...]:
    """``a,b`` → ``("a", "b")``; empty → ``()``. An empty item or a repeat is refused."""
    items = [item.strip() for item in (value or "").split(",")]
    if items == [""]:
        return ()
    if "" in items:
        raise UsageError(f"{option} {value!r} has an empty item", f"write it as {option} a,b")
    repeated = sorted({item for item in items if items.count(item) > 1})
    if repeated:
        raise UsageError(f"{option} names {repeated[0]!r} twice", "give each value once")
    return tuple(items)


def spot_choices(value: str | bool | None) -> tuple[bool, ...]:
    """``--cloud-spot``'s value → the spot choices in order: (False,), (True,), (True, False)."""
    if isinstance(value, bool) or value is None:
        return (bool(value),)
    choices = SPOT_MODES.get(value.strip().lower())
    if choices is None:
        raise UsageError(
            f"--cloud-spot {value!r} is not a spot choice",
            "give --cloud-spot alone (spot), --cloud-spot auto (spot, then on-demand), or "
            "leave it out (on-demand)",
        )
    return choices


def build(base: MachineRequest, clouds: str, spot: str | bool | None = None) -> list[Candidate]:
    """The candidates of ``base`` (whose ``region`` and ``cloud_type`` may be lists) on
    ``clouds`` (``aws`` or ``aws,gcp``), each checked offline by its cloud, in the user's
    order. ``spot``: ``--cloud-spot``'s value (``base.spot`` when None)."""
    from cmlinfra.clouds import canonical, cloud_info, get_cloud

    names = parse_list(clouds, "--cloud") or ("",)
    canon = [canonical(name) for name in names]
    if len(set(canon)) < len(canon):
        raise UsageError(f"--cloud {clouds} names a cloud twice", "give each cloud once")
    choices = spot_choices(base.spot if spot is None else spot)
    regions = parse_list(base.region, "--cloud-region") or (None,)
    types = parse_list(base.cloud_type, "--cloud-type") or ("m",)
    _owned_options(base, canon)
    clouds_loaded = {name: get_cloud(name) for name in canon}
    found: list[Candidate] = []
    for on_spot in choices:
        for name in canon:
            if on_spot and len(choices) > 1 and not cloud_info(name).capabilities.spot:
                continue  # auto: this cloud has no spot machines, its on-demand ones follow
            for cloud_type in types:
                for region in _regions(clouds_loaded[name], regions):
                    request = _request(base, name, region, cloud_type, on_spot)
                    cap = None if on_spot else base.spot_price  # auto's on-demand: a cap
                    found.append(Candidate(name, request, len(found), cap))
    if len(found) > MAX_CANDIDATES:
        raise UsageError(
            f"{len(found)} candidate machines is more than {MAX_CANDIDATES}",
            "name fewer regions, types or clouds",
        )
    several = len(canon) > 1
    return [_checked(c, clouds_loaded[c.cloud], several) for c in found]


def _regions(cloud: Any, regions: tuple[str | None, ...]) -> list[str | None]:
    """The user's regions with ``any`` replaced by the cloud's own list (once each)."""
    out: list[str | None] = []
    for region in regions:
        if region is not None and region.lower() == ANY:
            listed = getattr(cloud, "any_regions", None)
            if listed is None:
                raise UsageError(
                    f"--cloud-region any: the {cloud.name} cloud has no list of regions",
                    "name the regions (or namespaces) to try, comma-separated",
                )
            out += [r for r in listed() if r not in out]
        elif region not in out:
            out.append(region)
    return out


def _request(
    base: MachineRequest, cloud: str, region: str | None, cloud_type: str, spot: bool
) -> MachineRequest:
    from cmlinfra.clouds import cloud_info

    own = {f for option in cloud_info(cloud).options for f in (option.flag, *option.aliases)}
    return dataclasses.replace(
        base,
        region=region,
        cloud_type=cloud_type,
        spot=spot,
        spot_price=base.spot_price if spot else None,
        options={flag: value for flag, value in base.options.items() if flag in own},
    )


def _owned_options(base: MachineRequest, clouds: list[str]) -> None:
    """A cloud option that none of ``clouds`` declares is refused as today (naming its cloud)."""
    from cmlinfra.clouds import cloud_info
    from cmlinfra.clouds.validate import cloud_options

    infos = [cloud_info(name) for name in clouds]
    owned = {f for info in infos for option in info.options for f in (option.flag, *option.aliases)}
    stray = {flag: value for flag, value in base.options.items() if flag not in owned}
    if stray:
        cloud_options(dataclasses.replace(base, options=stray), infos[0])


def _checked(candidate: Candidate, cloud: Any, several_clouds: bool) -> Candidate:
    """The cloud's offline checks; a spot bid a cloud refuses (Google's Spot VMs have none)
    becomes a cost cap when the launch spans several clouds (alone, the refusal stands)."""
    from cmlinfra.clouds import validate

    request = candidate.request
    validate.cloud_options(request, cloud.info)
    try:
        cloud.validate(request)
    except UsageError:
        if not (several_clouds and request.spot and request.spot_price is not None):
            raise
        request = dataclasses.replace(request, spot_price=None)
        cloud.validate(request)
        return dataclasses.replace(candidate, request=request, cap=candidate.request.spot_price)
    return candidate
