"""``clouds.shared.poll_api``: how often a launch reads a cloud API while a machine boots (the
host keys in a console log or guest attributes), on a clock the test moves itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cmlinfra.clouds import shared


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """shared's ``time``, replaced: ``sleep`` records the pause and moves ``now`` by it."""
    fake = SimpleNamespace(now=0.0, pauses=[])

    def sleep(seconds: float) -> None:
        fake.pauses.append(seconds)
        fake.now += seconds

    monkeypatch.setattr(shared, "time", SimpleNamespace(monotonic=lambda: fake.now, sleep=sleep))
    return fake


def test_pauses_grow_to_a_few_seconds_and_the_wait_bounds_the_poll(clock: SimpleNamespace) -> None:
    reads: list[float] = []
    assert shared.poll_api(lambda: reads.append(clock.now), 20) is None
    # never more than 4 s between two reads (was 10 s), and the last pause ends at the deadline
    assert clock.pauses == [2.0, 3.0, 4.0, 4.0, 4.0, 3.0]
    assert reads == [0.0, 2.0, 5.0, 9.0, 13.0, 17.0, 20.0]


def test_the_first_answer_ends_the_poll(clock: SimpleNamespace) -> None:
    answers = iter([None, None, ("ssh-ed25519 AAAA",)])
    assert shared.poll_api(lambda: next(answers), 600) == ("ssh-ed25519 AAAA",)
    assert clock.pauses == [2.0, 3.0]


def test_no_wait_still_reads_once(clock: SimpleNamespace) -> None:
    reads: list[float] = []
    assert shared.poll_api(lambda: reads.append(clock.now), 0) is None
    assert (reads, clock.pauses) == ([0.0], [])
