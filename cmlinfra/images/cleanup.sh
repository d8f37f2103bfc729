#!/usr/bin/env bash
# Run as root on an image builder just before it is published (cmlinfra image bake, Packer).
# Everything a machine must not share with its clones goes: the machine identity, SSH host
# keys (new ones are made at first boot), the builder's authorized keys, any runner
# registration or token, logs, shell history, temporary files. Idempotent.
set -euo pipefail

# A new SSH host key at first boot on every distribution, not only where cloud-init makes them.
# Ed25519 only: the key every client pins (cmlinfra reads that one), made in milliseconds where
# `ssh-keygen -A`'s RSA key takes 0.5-1.3 s of every boot; sshd skips the other default types
# when their files are missing. Where cloud-init runs, it still makes the types it is told to.
cat >/etc/systemd/system/cmlinfra-hostkeys.service <<'UNIT'
[Unit]
Description=Generate this machine's SSH host key
Before=ssh.service sshd.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/cmlinfra-hostkeys.service \
  /etc/systemd/system/multi-user.target.wants/cmlinfra-hostkeys.service
rm -f /etc/ssh/ssh_host_*

# Machine identity: empty (not missing) so systemd makes a new one at first boot.
truncate -s 0 /etc/machine-id
rm -f /var/lib/dbus/machine-id
[[ -d /var/lib/dbus ]] && ln -sf /etc/machine-id /var/lib/dbus/machine-id

# Key material and credentials: the builder's login keys, runner registrations, cmlinfra's own.
for home in /root /home/*; do
  rm -f "$home"/.ssh/authorized_keys "$home"/.ssh/id_* "$home"/.bash_history \
    "$home"/.python_history "$home"/.lesshst "$home"/.viminfo "$home"/.wget-hsts
  rm -rf "$home"/.cmlinfra # the bootstrap's uploaded scripts and staged files (this one too)
done
# GitHub: the runner's registration, credentials, settings and diagnostic logs.
rm -f /opt/actions-runner/.runner /opt/actions-runner/.credentials \
  /opt/actions-runner/.credentials_rsaparams /opt/actions-runner/.env \
  /opt/actions-runner/.path /opt/actions-runner/.runner_migrated
rm -rf /opt/actions-runner/_diag /opt/actions-runner/_work
# GitLab: its own default config and the one cmlinfra registers into (with the runner's token),
# and the system id gitlab-runner keeps next to each (one per machine, never shared).
rm -f /etc/gitlab-runner/config.toml /etc/gitlab-runner/.runner_system_id
# Bitbucket: the runner's working directory, logs and temporary files.
rm -rf /home/bitbucket/work /opt/atlassian-bitbucket-pipelines-runner/logs \
  /opt/atlassian-bitbucket-pipelines-runner/temp
# cmlinfra's own: the agent's environment file and registration (all of /etc/cmlinfra: the
# secrets directory, gitlab-runner.toml), its unit, and the watchdog's state (a clone must arm
# its own clock, not inherit this machine's).
rm -rf /etc/cmlinfra /run/cmlinfra /tmp/cmlinfra-bootstrap /var/lib/cmlinfra
rm -f /etc/systemd/system/cmlinfra-agent.service \
  /etc/systemd/system/multi-user.target.wants/cmlinfra-agent.service

# cloud-init state, so it runs again (user, keys, hostname) on every machine made from this.
if command -v cloud-init >/dev/null; then cloud-init clean --logs --seed || true; fi

# Package caches, logs and temporary files.
if command -v apt-get >/dev/null; then apt-get clean; fi
rm -rf /var/lib/apt/lists/*
if command -v journalctl >/dev/null; then
  journalctl --rotate >/dev/null 2>&1 || true
  journalctl --vacuum-time=1s >/dev/null 2>&1 || true
fi
rm -rf /var/log/journal/*
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find /var/log -type f -exec truncate -s 0 {} +
find /tmp /var/tmp -mindepth 1 -delete 2>/dev/null || true
# Azure: the VM agent's and cloud-init's provisioning state must not be shared either (else a
# new VM from the image never reports "provisioned"). Not `+user`: the builder's login is still
# in use by this very session. A no-op elsewhere (no waagent).
if command -v waagent >/dev/null 2>&1; then
  waagent -deprovision -force >/dev/null 2>&1 || echo "cleanup: waagent -deprovision failed" >&2
fi
unset HISTFILE
sync
echo "cleanup: image ready to publish"
