"""``--cloud lxd``: runners as containers on the local LXD daemon (scripts/localcloud.sh)."""

from cmlinfra.clouds.lxd.cloud import LxdCloud


def make_cloud() -> LxdCloud:
    return LxdCloud()
