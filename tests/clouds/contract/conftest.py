"""The harnesses the contract suite runs on: one per cloud. A new cloud adds its
``harness_<cloud>.py`` (a module-scoped ``<cloud>_harness`` fixture) and one entry below."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clouds.contract.harness_aws import aws_harness  # noqa: F401
from tests.clouds.contract.harness_azure import azure_harness  # noqa: F401
from tests.clouds.contract.harness_fake import fake_harness  # noqa: F401
from tests.clouds.contract.harness_gcp import gcp_harness  # noqa: F401
from tests.clouds.contract.harness_kubernetes import kubernetes_harness  # noqa: F401
from tests.clouds.contract.harness_lxd import lxd_harness  # noqa: F401
from tests.clouds.contract.harness_ssh import ssh_harness  # noqa: F401
from tests.clouds.contract.kit import Harness

HARNESSES = [
    "fake",
    "ssh",
    "aws",
    "gcp",
    "azure",
    "kubernetes",
    pytest.param("lxd", marks=pytest.mark.lxd),
]


@pytest.fixture(scope="module", params=HARNESSES)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """The cloud under test, with the environment it reads (endpoints, the plugin list)."""
    made: Harness = request.getfixturevalue(f"{request.param}_harness")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in made.env.items():
            patch.setenv(key, value)
        yield made
