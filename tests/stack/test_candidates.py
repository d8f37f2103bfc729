"""The candidates of a launch (docs/failover.md), offline: the list options, their order, the
cloud options each candidate keeps, the cost cap, and the words of an attempt's line."""

from __future__ import annotations

import pytest

from cmlinfra.cli.cml import translate
from cmlinfra.clouds.base import MachineRequest
from cmlinfra.errors import CmlinfraError, UsageError
from cmlinfra.stack import candidates
from cmlinfra.stack.failover import Attempt, Failover, Option, reason

BASE = MachineRequest(name="cml-fo", cloud_type="m+t4,m+a10g", region="any", spot=True)


def _key(c: candidates.Candidate) -> tuple[str, str | None, str, bool]:
    return (c.cloud, c.request.region, c.request.cloud_type, c.request.spot)


def test_the_users_order_spot_first_then_cloud_type_region() -> None:
    found = candidates.build(BASE, "aws", "auto")
    assert len(found) == 16  # CML's 4 regions x 2 types x spot, then on-demand
    assert [_key(c) for c in found[:5]] == [
        ("aws", "us-west", "m+t4", True),
        ("aws", "us-east", "m+t4", True),
        ("aws", "eu-west", "m+t4", True),
        ("aws", "eu-north", "m+t4", True),
        ("aws", "us-west", "m+a10g", True),
    ]
    assert {c.request.spot for c in found[8:]} == {False}
    assert [c.index for c in found] == list(range(16))


def test_one_value_each_is_one_candidate_as_today() -> None:
    request = MachineRequest(name="cml-one", cloud_type="m+t4", region="us-east")
    (only,) = candidates.build(request, "aws")
    assert only.request == request and only.cap is None and only.cloud == "aws"
    (alias,) = candidates.build(MachineRequest(name="cml-az", cloud_type="m"), "az")
    assert alias.cloud == "azure"


def test_spot_price_is_the_bid_of_spot_and_the_cap_of_on_demand() -> None:
    request = MachineRequest(name="cml-cap", cloud_type="m+t4", spot=True, spot_price=0.4)
    spot, on_demand = candidates.build(request, "aws", "auto")
    assert (spot.request.spot, spot.request.spot_price, spot.cap) == (True, 0.4, None)
    assert (on_demand.request.spot, on_demand.request.spot_price, on_demand.cap) == (
        False,
        None,
        0.4,
    )


def test_a_bid_a_cloud_refuses_is_a_cap_when_several_clouds_are_named() -> None:
    request = MachineRequest(name="cml-two", cloud_type="m+t4", spot=True, spot_price=0.4)
    found = {(c.cloud, c.request.spot): c for c in candidates.build(request, "aws,gcp", "auto")}
    gcp_spot = found[("gcp", True)]  # Google's Spot VMs take no bid
    assert gcp_spot.request.spot_price is None and gcp_spot.cap == 0.4
    assert found[("aws", True)].request.spot_price == 0.4
    with pytest.raises(UsageError, match="Spot VMs have no bid"):
        candidates.build(request, "gcp", "auto")  # alone: refused as today


def test_each_candidate_keeps_its_own_clouds_options() -> None:
    options = {"--cloud-aws-subnet": "subnet-0123abcd", "--cloud-gcp-network": "ml"}
    request = MachineRequest(name="cml-opt", cloud_type="m", region="us-west", options=options)
    aws, gcp = candidates.build(request, "aws,gcp")
    assert aws.request.options == {"--cloud-aws-subnet": "subnet-0123abcd"}
    assert gcp.request.options == {"--cloud-gcp-network": "ml"}
    stray = MachineRequest(name="cml-opt", options={"--cloud-azure-subnet": "x"})
    with pytest.raises(UsageError, match="--cloud-azure-subnet is an Azure option"):
        candidates.build(stray, "aws,gcp")


def test_auto_skips_spot_on_a_cloud_without_it() -> None:
    request = MachineRequest(name="cml-lxd", spot=True)
    (only,) = candidates.build(request, "lxd", "auto")
    assert only.request.spot is False


@pytest.mark.parametrize(
    ("clouds", "request_", "spot", "problem"),
    [
        ("kubernetes", MachineRequest(name="cml-k", region="any"), None, "has no list of regions"),
        ("azure,az", MachineRequest(name="cml-d"), None, "names a cloud twice"),
        ("aws,awz", MachineRequest(name="cml-d"), None, "unknown cloud 'awz'"),
        ("aws", MachineRequest(name="cml-d", region="us-west,nowhere-9"), None, "nowhere-9"),
        (
            "aws",
            MachineRequest(name="cml-d", cloud_type="m,m+t4,m+h200"),
            None,
            "unknown GPU 'h200'",
        ),
        ("aws", MachineRequest(name="cml-d", region="a,,b"), None, "has an empty item"),
        ("aws", MachineRequest(name="cml-d"), "maybe", "is not a spot choice"),
    ],
)
def test_bad_lists_are_refused_offline(
    clouds: str, request_: MachineRequest, spot: str | None, problem: str
) -> None:
    with pytest.raises(UsageError, match=problem):
        candidates.build(request_, clouds, spot)


def test_too_many_candidates() -> None:
    many = ",".join(f"us-east-1{z}" for z in "abcdef")
    request = MachineRequest(name="cml-many", cloud_type="m,l,xl", region=many)
    with pytest.raises(UsageError, match="36 candidate machines is more than 32"):
        candidates.build(request, "aws", "auto")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["runner", "launch", "--cloud-spot"], ["runner", "launch", "--cloud-spot=true"]),
        (["exec", "--cloud-spot", "auto", "--", "x"], ["exec", "--cloud-spot=auto", "--", "x"]),
        (
            ["exec", "--cloud-spot", "--", "--cloud-spot"],
            ["exec", "--cloud-spot=true", "--", "--cloud-spot"],
        ),
        (["stack", "apply", "--cloud-spot=false"], ["stack", "apply", "--cloud-spot=false"]),
        (["stack", "apply", "--no-cloud-spot"], ["stack", "apply"]),
    ],
)
def test_cml_s_bare_switch_and_cmlinfras_value(argv: list[str], expected: list[str]) -> None:
    assert translate(argv).argv == expected


def test_reason_keeps_the_clouds_words_only() -> None:
    wrapped = CmlinfraError(
        "apply of stack cml-x failed: terraform apply failed: .terraform/modules/runner/main.tf:19:"
        ' Reached maximum number of instances in project "fo-a"; what it created was destroyed'
    )
    assert reason(wrapped) == 'Reached maximum number of instances in project "fo-a"'
    provisioner = CmlinfraError("terraform apply failed: main.tf:25: local-exec provisioner error")
    provisioner.detail = (  # type: ignore[attr-defined]
        "Error running command 'api create-machine x fz-a': exit status 1. Output: Error: "
        "creating EC2 Instance: InsufficientInstanceCapacity: We currently do not have enough"
    )
    assert reason(provisioner).startswith("creating EC2 Instance: InsufficientInstanceCapacity")
    assert len(reason(CmlinfraError("x" * 500))) == 160


class _Machine:
    def __init__(self, price: float | None) -> None:
        self.hourly_price = price


class _Prepared:
    def __init__(self, price: float | None) -> None:
        self.machine = _Machine(price)


def test_cheapest_first_unknown_prices_last_in_the_users_order() -> None:
    request = MachineRequest(name="cml-o")
    prices = [None, 0.5, 0.2, None, 0.2]
    options = [
        Option(candidates.Candidate("aws", request, i), _Prepared(p)) for i, p in enumerate(prices)
    ]
    from cmlinfra.stack.failover import _cheapest

    ordered = sorted(options, key=_cheapest)
    assert [o.candidate.index for o in ordered] == [2, 4, 1, 0, 3]
    plan = Failover([o.candidate for o in options], options=ordered)
    plan.chosen = ordered[1]
    assert [o.candidate.index for o in plan.remaining()] == [1, 0, 3]  # a relaunch's next


def test_an_attempts_line() -> None:
    attempt = Attempt("aws", "us-west-2", "g5.xlarge", True, 0.39, "capacity", "Insufficient…")
    assert attempt.line() == "us-west-2 g5.xlarge spot ($0.39/h): capacity: Insufficient…"
    assert attempt.line(with_cloud=True).startswith("aws us-west-2 g5.xlarge spot")
    assert attempt.to_dict()["outcome"] == "capacity"


@pytest.mark.parametrize(
    "text",
    [
        "g5.xlarge is not offered in us-west-1; choose another --cloud-region or --cloud-type",
        "g5.xlarge is not offered in the zone us-east-1e; choose one of us-east-1a, us-east-1b",
    ],
)
def test_awss_own_look_up_refusals_move_on(text: str) -> None:
    """resolve()'s words (clouds/aws/cloud.py) for a type a region or a zone lacks."""
    from cmlinfra.clouds.aws.errors import classify_error
    from cmlinfra.clouds.base import ErrorKind

    assert classify_error(UsageError(*text.split("; "))) == ErrorKind.CAPACITY


def test_a_wrapped_pod_wait_verdict_keeps_its_kind() -> None:
    """Kubernetes: the pod wait knows "Insufficient nvidia.com/gpu" is capacity; the failed
    apply that wraps it must not hide that from the failover."""
    from cmlinfra.clouds.base import ErrorKind
    from cmlinfra.clouds.kubernetes.errors import classify_error

    class Verdict(CmlinfraError):
        kind = ErrorKind.CAPACITY

    try:
        try:
            raise Verdict("pod cml-k is not scheduled: 0/3 nodes are available")
        except Verdict as verdict:
            raise CmlinfraError("apply of stack cml-k failed: pod cml-k …") from verdict
    except CmlinfraError as wrapped:
        assert classify_error(wrapped) == ErrorKind.CAPACITY
