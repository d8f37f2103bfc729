"""``--cloud ssh``: an existing machine reached over SSH (nothing is created)."""

from cmlinfra.clouds.ssh.cloud import SshCloud


def make_cloud() -> SshCloud:
    return SshCloud()
