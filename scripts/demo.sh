#!/usr/bin/env bash
# The main job, end to end on a real local cloud (`make demo`):
#   local LXD cloud → fruit dataset versioned with DVC (pushed to an S3 remote: a local moto server
#   on the LXD bridge) → `cmlinfra exec --cloud lxd --dvc --commit` (Terraform creates a
#   container, SSH bootstrap, the tree is sent, DVC pulls the data, Debian's numpy/matplotlib
#   installed, `dvc repro` trains, `dvc push` stores the model, dvc.lock and the metrics come back
#   and are pushed to the git origin, the container is destroyed) → `cmlinfra report build --dvc`
#   → a fresh clone pulls the model → time breakdown → a check that nothing is left running.
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
MOTO_PID=
on_exit() {
  local rc=$?
  [[ -z $MOTO_PID ]] || kill "$MOTO_PID" 2>/dev/null || true
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

say "2/5 the data, versioned with DVC: generated, 'dvc add'ed and pushed to an S3 remote"
rm -rf "$OUT" && mkdir -p "$OUT/work"
cp examples/fruit/make_data.py examples/fruit/train.py examples/fruit/dvc.yaml \
  examples/fruit/params.yaml "$OUT/work/"
# The S3 remote: a moto server on the LXD bridge's address only, so the container reaches it.
bridge=$(lxc network get cmlbr0 ipv4.address) && host=${bridge%/*}
port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PYTHON" -m moto.server -H "$host" -p "$port" >"$OUT/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ACCESS_KEY_ID=cmlinfra-demo-key AWS_SECRET_ACCESS_KEY=cmlinfra-demo-secret AWS_DEFAULT_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true DVC_NO_ANALYTICS=1
endpoint="http://$host:$port"
"$PYTHON" - "$endpoint" <<'PY'
import sys, time, boto3, botocore.exceptions
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
deadline = time.monotonic() + 60
while True:
    try:
        s3.create_bucket(Bucket="fruit")
        break
    except botocore.exceptions.EndpointConnectionError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)  # the server is still starting
PY
dvc() { "$PYTHON" -m dvc "$@"; }
gitc() { git -c user.name=demo -c user.email=demo@cmlinfra.invalid "$@"; }
(
  cd "$OUT/work"
  git init -q -b main && dvc init -q && dvc config core.analytics false
  dvc remote add -q -d storage s3://fruit/dvc && dvc remote modify storage endpointurl "$endpoint"
  "$PYTHON" make_data.py --out data
  dvc add -q data && dvc push -q
  gitc add -A && gitc commit -q -m "fruit data (DVC) and pipeline"
  git init -q --bare -b main ../origin.git && git remote add origin ../origin.git
  git push -q -u origin main
)

say "3/5 training on a fresh LXD machine: cmlinfra exec --dvc (dvc pull, dvc repro, dvc push)"
image_args=()
[[ -z ${DEMO_IMAGE:-} ]] || image_args=(--cloud-image "$DEMO_IMAGE")
# shellcheck disable=SC2016 # expanded in the container, not here
train='if ! python3 -c "import numpy, matplotlib" 2>/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-numpy python3-matplotlib >/dev/null
fi
dvc repro'
# --commit pushes to the CI's branch when there is one: here it is the demo's own origin's main
stage "cmlinfra exec (machine → destroy)" \
  env -u GITHUB_HEAD_REF -u GITHUB_REF_NAME -u CI_MERGE_REQUEST_SOURCE_BRANCH_NAME \
  -u CI_COMMIT_REF_NAME -u BITBUCKET_BRANCH "$PYTHON" -m cmlinfra exec --cloud lxd --name "$NAME" --max-ttl 30m "${image_args[@]}" \
  --workdir "$OUT/work" --dvc --commit --artifacts 'out/*' -- bash -c "$train" \
  2> >(tee "$OUT/exec.log" >&2)

say "4/5 the report: cmlinfra report build --dvc (dvc.yaml's metrics, params and plots)"
stage "cmlinfra report build" cmlinfra report build --no-step-summary \
  --title "Fruit classifier (make demo)" --dvc --dvc-root "$OUT/work" \
  --confusion "$OUT/work/out/confusion.json" --out "$OUT/report.md"

say "the model, from the remote: a fresh clone of what --commit pushed, then dvc pull"
stage "fresh clone + dvc pull" bash -c "git clone -q '$OUT/origin.git' '$OUT/clone' &&
  cd '$OUT/clone' && $(printf '%q' "$PYTHON") -m dvc pull -q &&
  $(printf '%q' "$PYTHON") -m dvc status --quiet"
echo "model pulled back from the remote and matching dvc.lock: $(du -b "$OUT/clone/model/fruit.json" | cut -f1) bytes" >&2

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
breakdown=$(grep -o "exec $NAME: exit [0-9]*[^;]*; .*" "$OUT/exec.log" | tail -n1 || true)
[[ -z $breakdown ]] || printf '  inside exec: %s\n' "${breakdown#*; }" >&2
printf '  %-34s %5ds\n' "total" $((SECONDS - start_all)) >&2

say "report: $OUT/report.md"
cat "$OUT/report.md"
