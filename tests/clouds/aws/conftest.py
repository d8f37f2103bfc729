"""The AWS tests' moto server, read-only (the echo service is in tests/clouds/conftest.py)."""

from __future__ import annotations

import pytest

from tests.fixtures.moto import MotoServer


@pytest.fixture
def moto_read(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's moto server *without* a reset, for tests that only read: after each reset
    moto rebuilds a region's EC2 backend (images, instance types) on first use, 1-3 s here.
    Tests that create or delete anything use ``moto`` (a clean slate) instead."""
    for key, value in moto_server.env.items():
        monkeypatch.setenv(key, value)
    return moto_server
