"""A local, stateful fake of the GitHub, GitLab and Bitbucket Cloud APIs for tests, validated
against each forge's official OpenAPI description (see core.py)."""

from tests.forge_server.core import ForgeServer

__all__ = ["ForgeServer"]
