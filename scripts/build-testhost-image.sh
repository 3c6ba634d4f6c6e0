#!/usr/bin/env bash
# Builds the Molecule test-host image localhost/bangka-testhost:latest (Debian 12, systemd as PID 1)
# from debootstrap, without any image registry. Skips the build when the image exists and its
# recipe (this script, the Containerfile) has not changed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/molecule/testhost/containers.conf}"
image=localhost/bangka-testhost
# One build at a time: the suite's Molecule lane and its bare set-up check may ask at once.
exec 9>/run/lock/bangka-testhost-image.lock
flock 9
recipe_hash=$(cat "$here/scripts/build-testhost-image.sh" "$here/molecule/testhost/Containerfile" | sha256sum | cut -c1-16)

if podman image exists "$image:latest" \
   && [ "$(podman image inspect --format '{{ index .Labels "recipe" }}' "$image:latest")" = "$recipe_hash" ]; then
  echo "test-host image $image:latest is up to date (recipe $recipe_hash)"
  exit 0
fi

# The Debian mirror apt already uses on this machine (no other network is reachable).
mirror=$( (grep -rhoE --include='*.sources' --include='*.list' '^(URIs:|deb) +https?://[^ ]+' \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true) \
         | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
security_mirror=${mirror%/debian}/debian-security

workdir=$(mktemp -d /var/tmp/bangka-testhost.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
echo "debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase \
  --include=python3,openssh-server,sudo,ca-certificates,iproute2,procps \
  bookworm "$workdir/root" "$mirror" >"$workdir/debootstrap.log" 2>&1 \
  || { tail -n 30 "$workdir/debootstrap.log"; exit 1; }
cat >"$workdir/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
SOURCES
# Each container makes its own SSH host keys at start (see the Containerfile drop-in).
rm -f "$workdir"/root/etc/ssh/ssh_host_*
tar -C "$workdir/root" -c . | podman import - "$image:base" >/dev/null
podman build --label "recipe=$recipe_hash" -t "$image:latest" -f "$here/molecule/testhost/Containerfile" "$here/molecule/testhost"
echo "built $image:latest (recipe $recipe_hash)"
