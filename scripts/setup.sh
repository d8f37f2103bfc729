#!/usr/bin/env bash
# Installs everything the project and its tests need on a fresh Debian machine; idempotent.
# - Debian packages: LXD and its iptables, debootstrap (the local cloud's image), OpenSSH
#   (real sshd test hosts), shellcheck (bootstrap scripts), iproute2 (network-namespace hosts),
#   sudo (the bootstrap's non-root login tests), packer (validates images/packer for real).
# - A virtual environment in .venv with cmlinfra (editable) and its pinned test dependencies.
# - Azurite (npm), Microsoft's Azure Storage emulator, in .cache/tools/azurite: the Blob
#   registry's tests (3.35.0 is the newest that runs on Debian's Node 20; 3.36+ needs Node 21+).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(lxd iptables debootstrap openssh-server openssh-client shellcheck iproute2 rsync sudo packer)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

VENV=${VENV:-.venv}
stamp="$VENV/.installed"
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing Python packages into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c requirements.lock -e '.[test]'
  echo "$want" >"$stamp"
fi

# checkov (static checks of terraform/modules, tests/clouds/test_checkov.py) pins many packages
# of its own: it gets its own virtual environment.
CHECKOV_VENV=.cache/tools/checkov
if [[ ! -x "$CHECKOV_VENV/bin/checkov" ]]; then
  echo "setup: installing checkov into $CHECKOV_VENV" >&2
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip install -q checkov==3.3.30
fi

# Azurite for tests/runner/test_blobstore.py (tests/fixtures/azurite.py starts it).
AZURITE_VERSION=3.35.0
AZURITE_DIR=.cache/tools/azurite
if [[ "$(cat "$AZURITE_DIR/.installed" 2>/dev/null)" != "$AZURITE_VERSION" ]]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing Debian packages: nodejs npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  echo "setup: installing azurite@$AZURITE_VERSION into $AZURITE_DIR" >&2
  mkdir -p "$AZURITE_DIR"
  npm install --prefix "$AZURITE_DIR" "azurite@$AZURITE_VERSION" --no-audit --no-fund \
    --omit=dev --loglevel=error >/dev/null
  echo "$AZURITE_VERSION" >"$AZURITE_DIR/.installed"
fi
