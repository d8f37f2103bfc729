"""CML option values → MachineRequest: the spellings accepted and the one-line errors."""

from __future__ import annotations

import pytest

from cmlinfra.errors import UsageError
from cmlinfra.stack.request import build_request, parse_duration, parse_spot_price


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90m", 5400), ("2h", 7200), ("1d", 86400), ("0", None)]
)
def test_durations(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2 hours", "-5", "1.5h", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError, match="--max-ttl"):
        parse_duration(text)


def test_spot_price() -> None:
    assert parse_spot_price("-1", spot=True) is None  # CML: cap at the on-demand price
    assert parse_spot_price("0.35", spot=True) == 0.35
    for bad in ("abc", "0", "-3", "nan", "inf"):
        with pytest.raises(UsageError, match="not a price"):
            parse_spot_price(bad, spot=True)
    with pytest.raises(UsageError, match="needs --cloud-spot"):
        parse_spot_price("0.5", spot=False)


def test_request_fields() -> None:
    request = build_request(
        name=None, metadata=["team=ml", "empty="], ssh_cidr="203.0.113.7", max_ttl="1h"
    )
    assert request.name.startswith("cml-")
    assert request.metadata == {"team": "ml", "empty": ""}
    assert request.ssh_cidr == "203.0.113.7/32"
    assert request.max_ttl_seconds == 3600


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metadata": ["novalue"]}, "is not key=value"),
        ({"metadata": ["=x"]}, "is not key=value"),
        ({"ssh_cidr": "10.0.0.0/33"}, "is not a CIDR"),
        ({"hdd_size": 0}, "is not a size"),
    ],
)
def test_bad_requests(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        build_request(name="x", **kwargs)
    assert "\n" not in info.value.line()
