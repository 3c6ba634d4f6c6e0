#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine (as root): Debian packages, the project's virtualenv
# (.venv) with bangka-ops installed in it. Safe to re-run; does only what is missing.
#   scripts/setup.sh          what the main job needs (Ansible controller + local Borg agent)
#   scripts/setup.sh --test   also what the test suite needs (podman test hosts, linters, Molecule)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

mode=${1:-}
packages=(borgbackup python3 python3-apt openssh-client openssh-server cron git)
if [ "$mode" = "--test" ]; then
  packages+=(chromium podman debootstrap runc crun fuse-overlayfs slirp4netns uidmap netavark aardvark-dns
             containernetworking-plugins)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; }
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
extra=ops
[ "$mode" = "--test" ] && extra=dev
stamp=".venv/.installed-$extra-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "setup: installing bangka-ops[$extra] into .venv"
  .venv/bin/pip install --quiet --upgrade pip >/dev/null
  .venv/bin/pip install --quiet -e ".[$extra]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
