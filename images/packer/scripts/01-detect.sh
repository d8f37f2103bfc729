#!/usr/bin/env bash
# cmlinfra bootstrap step "detect" (rendered by cmlinfra; safe to run again: it checks its
# own result first and prints "skip: ..." when there is nothing to do).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

log() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
skip() { printf 'skip: %s\n' "$*"; exit 0; }
have() { command -v "$1" >/dev/null 2>&1; }

# Another package manager (cloud-init, unattended-upgrades) may hold the dpkg lock on a fresh
# machine: apt waits for it instead of failing; a flaky mirror gets retried.
APT=(apt-get -q -o Acquire::Retries=3 -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then
    "${APT[@]}" update
    apt_updated=1
  fi
  "${APT[@]}" install -y --no-install-recommends "$@"
}

# An NVIDIA display or 3D controller (PCI class 03xx, vendor 10de): lspci when installed,
# else the PCI bus in sysfs (minimal images have no pciutils).
nvidia_gpu_present() {
  local dev
  if have lspci; then
    lspci -n -d 10de: | grep -Eq '^[^ ]+ 03[0-9a-f]{2}:'
    return
  fi
  for dev in /sys/bus/pci/devices/*; do
    [[ -r $dev/vendor && -r $dev/class ]] || continue
    if [[ $(<"$dev/vendor") == 0x10de && $(<"$dev/class") == 0x03* ]]; then
      return 0
    fi
  done
  return 1
}

# The GPUs as CSV with a header (cmlinfra.bootstrap.gpu parses it from the step's output).
# An old driver's refusal goes to stdout, so the first answer is kept only when it succeeded.
query_gpus() {
  local csv
  if csv=$(nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,compute_cap --format=csv 2>/dev/null); then
    printf '%s\n' "$csv"
  else
    nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total --format=csv
  fi
}

os_release() {
  # shellcheck source=/dev/null
  . /etc/os-release
}

start_service() {
  if [[ -d /run/systemd/system ]]; then
    systemctl enable --now "$1"
  else
    service "$1" start
  fi
}

restart_service() {
  if [[ -d /run/systemd/system ]]; then
    systemctl restart "$1"
  else
    service "$1" restart
  fi
}

# Poll a check until it passes or the time runs out (services take a moment to start).
wait_for() {
  local seconds=$1
  shift
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}


# Facts for the summary, one "fact: key=value" per line. Always runs: it is the cheap part.
if have cloud-init; then
  log "waiting for cloud-init to finish"
  cloud-init status --wait >/dev/null || true
fi
os_release
log "fact: os=${ID:-unknown}"
log "fact: os_version=${VERSION_ID:-unknown}"
log "fact: arch=$(uname -m)"
log "fact: kernel=$(uname -r)"
if query_gpus >/tmp/cmlinfra-gpus.csv 2>/dev/null; then
  log "fact: gpu=$(tail -n +2 /tmp/cmlinfra-gpus.csv | cut -d, -f2 | sed 's/^ //' | sort | uniq -c | awk '{n=$1; $1=""; printf "%s%dx%s", (NR>1?", ":""), n, $0}')"
  log "fact: nvidia_driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1)"
  cat /tmp/cmlinfra-gpus.csv
  rm -f /tmp/cmlinfra-gpus.csv
elif nvidia_gpu_present; then
  if have lspci; then
    log "fact: gpu=$(lspci -d 10de: -nn | grep -E 'VGA|3D' | sed -E 's/^[^:]+:[^:]+: //' | head -n1)"
  else
    log "fact: gpu=nvidia (no driver yet)"
  fi
  log "fact: nvidia_driver=none"
else
  log "fact: gpu=none"
fi
