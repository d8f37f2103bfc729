#!/usr/bin/env bash
# cmlinfra bootstrap step "nvidia-driver" (rendered by cmlinfra; safe to run again: it checks its
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


if nvidia-smi >/dev/null 2>&1; then
  skip "already done (driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n1))"
fi
nvidia_gpu_present || skip "no NVIDIA GPU on this host"

os_release
case "${ID:-}" in
  ubuntu)
    # Ubuntu picks the tested driver branch for the detected card (headless compute flavour).
    apt_install ubuntu-drivers-common "linux-headers-$(uname -r)"
    ubuntu-drivers install --gpgpu
    ;;
  debian)
    # Debian ships the driver in contrib/non-free: enable them on the existing sources.
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      sed -i -E '/^Components:/{/non-free( |$)/!s/$/ contrib non-free non-free-firmware/}' /etc/apt/sources.list.d/debian.sources
    fi
    if [[ -f /etc/apt/sources.list ]]; then
      sed -i -E '/^deb /{/ non-free( |$)/!s/$/ contrib non-free non-free-firmware/}' /etc/apt/sources.list
    fi
    apt_updated=0
    apt_install "linux-headers-$(uname -r)" nvidia-driver firmware-misc-nonfree nvidia-smi
    ;;
  *)
    die "cannot install the NVIDIA driver on ${ID:-this OS}; use an Ubuntu or Debian image (or one with the driver baked in)"
    ;;
esac

if ! modprobe nvidia >/dev/null 2>&1 || ! nvidia-smi >/dev/null 2>&1; then
  log "reboot: the NVIDIA kernel module loads only after a reboot"
  exit 194
fi
nvidia-smi
