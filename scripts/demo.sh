#!/usr/bin/env bash
# The main job, end to end on a real local cloud (`make demo`):
#   local LXD cloud → fruit dataset → `cmlinfra exec --cloud lxd` (Terraform creates a container,
#   SSH bootstrap, the tree is sent, Debian's numpy/matplotlib installed, training runs, results
#   come back, the container is destroyed) → `cmlinfra report build` → time breakdown → a check
#   that nothing is left running.
#
# Environment: DEMO_OUT (results, default .cache/demo), DEMO_IMAGE (an LXD image alias, e.g. one
# made by `cmlinfra image bake --cloud lxd --name cml-fruit --no-gpu`), PYTHON (default .venv's).
set -euo pipefail
cd "$(dirname "$0")/.."
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1

PYTHON=${PYTHON:-.venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=$(command -v python3)
OUT=${DEMO_OUT:-.cache/demo}
NAME=cml-demo-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
cmlinfra() { "$PYTHON" -m cmlinfra "$@"; }
say() { printf '\ndemo: %s\n' "$*" >&2; }

declare -a STAGES=()
stage() { # stage NAME COMMAND...: run it and remember how long it took
  local name=$1 start=$SECONDS
  shift
  "$@"
  STAGES+=("$(printf '%-34s %5ds' "$name" $((SECONDS - start)))")
}

leftovers() { # containers and stacks of this demo still around (should be none)
  lxc list --format csv -c n 2>/dev/null | grep -x "$NAME" || true
  [[ ! -d ${CMLINFRA_HOME:-$HOME/.local/state/cmlinfra}/stacks/$NAME ]] || echo "stack directory $NAME"
}
on_exit() {
  local rc=$?
  if [[ -n $(leftovers) ]]; then
    say "cleaning up after a failure: cmlinfra stack destroy --name $NAME"
    cmlinfra stack destroy --name "$NAME" >&2 || true
  fi
  exit "$rc"
}
trap on_exit EXIT

start_all=$SECONDS
say "1/5 the local cloud (LXD, bridge, Debian image, terraform-lxd provider)"
stage "local cloud (scripts/localcloud.sh)" scripts/localcloud.sh up

say "2/5 the data: examples/fruit/make_data.py (seeded, 1200 rows)"
rm -rf "$OUT" && mkdir -p "$OUT/work"
cp examples/fruit/make_data.py examples/fruit/train.py "$OUT/work/"
stage "generate data" "$PYTHON" examples/fruit/make_data.py --out "$OUT/work/data"

say "3/5 training on a fresh LXD machine: cmlinfra exec --cloud lxd (destroyed afterwards)"
image_args=()
[[ -z ${DEMO_IMAGE:-} ]] || image_args=(--cloud-image "$DEMO_IMAGE")
# shellcheck disable=SC2016 # expanded in the container, not here
train='if ! python3 -c "import numpy, matplotlib" 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-numpy python3-matplotlib >/dev/null
fi
python3 train.py --data data --out out'
stage "cmlinfra exec (machine → destroy)" \
  cmlinfra exec --cloud lxd --name "$NAME" --max-ttl 30m "${image_args[@]}" \
  --workdir "$OUT/work" --artifacts 'out/*' -- bash -c "$train" 2> >(tee "$OUT/exec.log" >&2)

say "4/5 the report: cmlinfra report build"
stage "cmlinfra report build" cmlinfra report build --no-step-summary \
  --title "Fruit classifier (make demo)" \
  --metrics "$OUT/work/out/metrics.json" --plot "$OUT/work/out/loss.csv" \
  --confusion "$OUT/work/out/confusion.json" --out "$OUT/report.md"

say "5/5 nothing left running"
left=$(leftovers)
if [[ -n $left ]]; then
  say "FAILED: still there: $left"
  exit 1
fi
running=$(lxc list --format csv -c ns 2>/dev/null | grep -c "^$NAME," || true)
echo "containers named $NAME: $running; stack directory: gone" >&2

say "time breakdown"
printf '  %s\n' "${STAGES[@]}" >&2
breakdown=$(grep -o "exec $NAME: exit [0-9]*; .*" "$OUT/exec.log" | tail -n1 || true)
[[ -z $breakdown ]] || printf '  inside exec: %s\n' "${breakdown#*; }" >&2
printf '  %-34s %5ds\n' "total" $((SECONDS - start_all)) >&2

say "report: $OUT/report.md"
cat "$OUT/report.md"
