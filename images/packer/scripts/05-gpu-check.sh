#!/usr/bin/env bash
# cmlinfra bootstrap step "gpu-check" (rendered by cmlinfra; safe to run again: it checks its
# own result first and prints "skip: ..." when there is nothing to do). With --check it only
# verifies: nothing is installed, started or changed; "ok: ..." when the result is there, one
# "error: ..." line naming what is missing otherwise.
set -Eeuo pipefail
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C

log() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
skip() { printf 'skip: %s\n' "$*"; exit 0; }
have() { command -v "$1" >/dev/null 2>&1; }

# Every command a step needs is checked before it is used; this is the safety net for one that
# was not: the failure still ends in one line naming it (not a bare "command not found").
trap '_rc=$?; ((_rc != 127)) || die "the gpu-check step needs ${BASH_COMMAND%% *}, which this host lacks"' ERR

check_only=0
case "${1:-}" in
  "") ;;
  --check) check_only=1 ;;
  *) die "unknown argument '$1' (the gpu-check step takes none, or --check to verify only)" ;;
esac

# The step's result is already there: "skip: already done (...)", or "ok: ..." when checking.
already_done() {
  if ((check_only)); then
    printf 'ok: %s\n' "$*"
    exit 0
  fi
  skip "already done ($*)"
}

# Basic tools a minimal image may lack, named in one line before anything runs.
need() {
  local missing=() tool
  for tool in "$@"; do
    have "$tool" || missing+=("$tool")
  done
  [[ -z ${missing[*]-} ]] || die "this host lacks ${missing[*]}, which the gpu-check step needs; install them or use a fuller image"
}

# Installing needs apt-get (Debian, Ubuntu): without it, say what could not be installed.
need_apt() {
  have apt-get || die "$1 is not installed and this host has no apt-get to install it; use a Debian or Ubuntu image, or a --cloud-image that has $1"
}

# Another package manager (cloud-init, unattended-upgrades) may hold the dpkg lock on a fresh
# machine: apt waits for it instead of failing; a flaky mirror gets retried.
APT=(apt-get -q -o Acquire::Retries=3 -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt_updated=0
apt_install() {
  have apt-get || die "installing $* needs apt-get, which this host lacks; use a Debian or Ubuntu image"
  if [[ $apt_updated == 0 ]]; then
    "${APT[@]}" update
    apt_updated=1
  fi
  "${APT[@]}" install -y --no-install-recommends "$@"
}

# The NVIDIA GPUs on the PCI bus as sysfs shows them (every Linux has it; minimal images and some
# cloud GPU machines have no lspci): "ADDRESS DEVICE CLASS" for each VGA (0x0300) or 3D
# (0x0302, e.g. H100/H200) controller of vendor 0x10de. A card's audio and USB functions, and
# NVSwitches, have other classes.
nvidia_pci_gpus() {
  local dev class device
  for dev in /sys/bus/pci/devices/*; do
    [[ -r $dev/vendor && -r $dev/class ]] || continue
    [[ $(<"$dev/vendor") == 0x10de ]] || continue
    class=$(<"$dev/class")
    device=unknown
    [[ ! -r $dev/device ]] || device=$(<"$dev/device")
    case "$class" in
      0x0300?? | 0x0302??) printf '%s %s %s\n' "${dev##*/}" "$device" "$class" ;;
    esac
  done
}

# An NVIDIA GPU on this host: the driver lists one, or lspci (when installed) or sysfs shows one.
nvidia_gpu_present() {
  local listed
  if have nvidia-smi && listed=$(nvidia-smi -L 2>/dev/null) && grep -q '^GPU [0-9]' <<<"$listed"; then
    return 0
  fi
  if have lspci && listed=$(lspci -n -d 10de:) && grep -Eq '^[^ ]+ 030[02]:' <<<"$listed"; then
    return 0
  fi
  [[ -n $(nvidia_pci_gpus) ]]
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

# Docker's own reason for not answering (daemon down, socket permission), for error lines.
docker_error() {
  { docker version 2>&1 >/dev/null || true; } | tail -n 1
}

os_release() {
  if [[ -r /etc/os-release ]]; then
    # shellcheck source=/dev/null
    . /etc/os-release
  fi
}

start_service() {
  if [[ -d /run/systemd/system ]]; then
    systemctl enable --now "$1"
  elif have service; then
    service "$1" start
  else
    die "cannot start $1: this host runs no systemd and has no 'service' command; start $1 yourself, or use an image with systemd"
  fi
}

restart_service() {
  if [[ -d /run/systemd/system ]]; then
    systemctl restart "$1"
  elif have service; then
    service "$1" restart
  else
    die "cannot restart $1: this host runs no systemd and has no 'service' command; restart $1 yourself, or use an image with systemd"
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


# The end-to-end check that CI jobs depend on: a container sees the GPUs. Cheap, so it always
# runs (no "already done" shortcut). What it needs is checked first, and everything missing is
# named in one line with the step that provides it (a GPU host without Docker used to end in a
# bare "docker: command not found").
nvidia_gpu_present || skip "no NVIDIA GPU on this host"
need awk grep
missing=()
if ! have nvidia-smi; then
  missing+=("the NVIDIA driver (no nvidia-smi: the nvidia-driver step installs it, or use a --cloud-image that has it)")
elif ! nvidia-smi >/dev/null 2>&1; then
  missing+=("a loaded NVIDIA driver (nvidia-smi fails: reboot, or run the nvidia-driver step)")
fi
if ! have docker; then
  missing+=("Docker (the docker step installs it)")
  missing+=("the NVIDIA container toolkit (the nvidia-container-toolkit step registers it with Docker)")
elif ! docker version >/dev/null 2>&1; then
  missing+=("a running Docker ($(docker_error): the docker step starts it)")
elif ! runtimes=$(docker info --format '{{json .Runtimes}}' 2>/dev/null) || ! grep -q '"nvidia"' <<<"$runtimes"; then
  missing+=("the NVIDIA container toolkit (no nvidia runtime in Docker: the nvidia-container-toolkit step registers it)")
fi
# "a", "a and b", "a, b and c"
and_list() {
  local out=$1
  shift
  while (($# > 1)); do
    out+=", $1"
    shift
  done
  if (($#)); then out+=" and $1"; fi
  printf '%s' "$out"
}
if [[ -n ${missing[*]-} ]]; then
  die "the GPU check needs $(and_list "${missing[@]}")"
fi

image=ubuntu:24.04
if ((check_only)) && ! docker image inspect "$image" >/dev/null 2>&1; then
  die "the image $image is not on this host and --check pulls nothing; run 'docker pull $image', or the gpu-check step without --check"
fi
# Docker's own diagnosis is kept as the step's last line: it may print a less useful line
# after it ("error waiting for container: context canceled"), and its exit code stays.
errors=$(mktemp) && trap 'rm -f "$errors"' EXIT
seen=$(docker run --rm --gpus all "$image" sh -c \
  'nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,compute_cap --format=csv 2>/dev/null ||
   nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total --format=csv' 2>"$errors") || {
  code=$?
  cat "$errors" >&2
  grep -m1 'could not select device driver' "$errors" >&2 || true
  exit "$code"
}
printf '%s\n' "$seen"
log "ok: a container ($image) sees $(awk 'END { print NR - 1 }' <<<"$seen") GPU(s)"
