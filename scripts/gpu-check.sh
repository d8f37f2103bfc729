#!/usr/bin/env bash
# GPU check on real hardware: what cmlinfra's bootstrap sees on this machine, changing nothing.
#
#   scripts/gpu-check.sh [--out DIR] [--timeout SECONDS]
#
# Runs the bootstrap's detect, nvidia-driver and gpu-check steps with --check (the rendered
# scripts in images/packer/scripts/, byte for byte what `cmlinfra bootstrap`, `runner launch`
# and Packer run; --check verifies and never installs, starts, pulls or changes anything),
# captures nvidia-smi's CSV query (with and without units), its -q -x XML report and its table,
# parses them with cmlinfra.bootstrap.gpu and cross-checks them, and compares the GPUs' PCI bus
# ids with what detect found in /sys/bus/pci/devices. Prints one line per check
# (PASS/FAIL/SKIP check: reason); exits 1 if a check failed, 2 on bad usage.
#
# Needs this checkout, bash, coreutils and python3 >= 3.10 (standard library only: it runs with
# -S, so no installed package is used; PYTHON=... picks another interpreter). No network, no
# root (Docker may want root or the docker group for the gpu-check step's container).
#
#   --out DIR       keep the raw outputs and SOURCE.md there (a new or empty directory); copied
#                   to tests/bootstrap/fixtures/nvidia-smi/real-NAME/, the tests parse them too
#   --timeout SEC   limit for each step and each nvidia-smi call (default 40)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
steps_dir=$repo/images/packer/scripts
python=${PYTHON:-python3}
query=index,name,uuid,driver_version,memory.total,compute_cap # cmlinfra.bootstrap.steps.GPU_QUERY
out=""
limit=40

bad() {
  printf 'gpu-check: error: %s; see scripts/gpu-check.sh --help\n' "$1" >&2
  exit 2
}
have() { command -v "$1" >/dev/null 2>&1; }

while (($#)); do
  case "$1" in
    --out)
      (($# >= 2)) || bad "--out needs a directory"
      out=$2
      shift 2
      ;;
    --out=*) out=${1#--out=} && shift ;;
    --timeout)
      (($# >= 2)) || bad "--timeout needs seconds"
      limit=$2
      shift 2
      ;;
    --timeout=*) limit=${1#--timeout=} && shift ;;
    -h | --help)
      sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) bad "unknown argument '$1'" ;;
  esac
done
[[ $limit =~ ^[1-9][0-9]*$ ]] || bad "--timeout $limit is not a whole number of seconds"
"$python" -S -E -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null ||
  bad "no python3 >= 3.10 as '$python' (it parses the captures); set PYTHON=/path/to/python3"
for step in detect nvidia-driver gpu-check; do
  compgen -G "$steps_dir/[0-9][0-9]-$step.sh" >/dev/null ||
    bad "$steps_dir has no $step step; run this from a complete cmlinfra checkout"
done

if [[ -z $out ]]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 1
  trap 'rm -rf "$out"' EXIT
  keep=0
else
  if [[ -e $out && -n $(ls -A "$out" 2>/dev/null) ]]; then
    bad "--out $out is not empty; give a new or empty directory"
  fi
  mkdir -p "$out" || bad "cannot create --out $out"
  out=$(cd "$out" && pwd -P)
  keep=1
fi

# Each command is bounded: a wedged GPU can hang nvidia-smi, and the whole run must fit a short
# slot on a borrowed machine.
bounded() {
  if have timeout; then
    timeout -k 5 "$limit" "$@"
  else
    "$@"
  fi
}

# The steps, with --check; their output (stdout and stderr) and exit code, as detect-step.txt…
for step in detect nvidia-driver gpu-check; do
  script=$(compgen -G "$steps_dir/[0-9][0-9]-$step.sh" | head -n 1)
  bounded bash "$script" --check >"$out/$step-step.txt" 2>&1
  echo "rc=$?" >>"$out/$step-step.txt"
done

# nvidia-smi's outputs. A failed call keeps its output and exit code in NAME.failed.
capture() {
  local name=$1 rc
  shift
  bounded "$@" >"$out/$name" 2>"$out/$name.stderr"
  rc=$?
  if ((rc != 0)); then
    { cat "$out/$name" "$out/$name.stderr"; echo "rc=$rc"; } >"$out/$name.failed"
    rm -f "$out/$name"
  fi
  [[ -s $out/$name.stderr ]] || rm -f "$out/$name.stderr"
  return "$rc"
}
if have nvidia-smi; then
  # as the bootstrap asks: drivers before 510 refuse compute_cap, so again without it
  if ! capture query.csv nvidia-smi "--query-gpu=$query" --format=csv; then
    capture query.csv nvidia-smi "--query-gpu=${query%,compute_cap}" --format=csv
    capture query-nounits.csv nvidia-smi "--query-gpu=${query%,compute_cap}" --format=csv,nounits
  else
    capture query-nounits.csv nvidia-smi "--query-gpu=$query" --format=csv,nounits
  fi
  capture q.xml nvidia-smi -q -x
  capture nvidia-smi.txt nvidia-smi
fi

# The raw sysfs view of every NVIDIA PCI function (GPUs, their audio and USB, NVSwitches), from
# which a fake /sys/bus/pci/devices for the tests can be built.
for dev in /sys/bus/pci/devices/*; do
  [[ -r $dev/vendor && $(<"$dev/vendor") == 0x10de ]] || continue
  printf '%s vendor=0x10de device=%s class=%s\n' "${dev##*/}" \
    "$(cat "$dev/device" 2>/dev/null)" "$(cat "$dev/class" 2>/dev/null)"
done >"$out/sysfs-nvidia.txt"
[[ -s $out/sysfs-nvidia.txt ]] || rm -f "$out/sysfs-nvidia.txt"

commit=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo "a checkout without git")
(cd "$repo" && "$python" -S -E -m cmlinfra.bootstrap.gpucheck "$out" --record "$commit")
verdict=$?
if ((keep)); then
  echo "gpu-check: raw outputs, verdicts.txt and SOURCE.md in $out"
fi
exit "$verdict"
