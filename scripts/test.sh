#!/usr/bin/env bash
# The whole test suite: lint, pytest (real Borg, real receivers), Molecule on podman test hosts.
#   scripts/test.sh                 everything (what CI runs)
#   scripts/test.sh --no-molecule   lint + pytest only (quick, no containers)
# Molecule runs in the background beside lint and pytest (measured: pytest about 24 min, the
# scenarios about 37 min two at a time; the test hosts mostly wait on package downloads and
# systemd), so the suite takes about as long as its longer half. Every step runs even when an
# earlier one failed, so one run reports every failure; the exit status is 1 if any failed.
set -euo pipefail
shopt -s nullglob
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/setup.sh" --test
export PATH="$here/.venv/bin:$PATH"
export CONTAINERS_CONF="$here/molecule/testhost/containers.conf"
export ANSIBLE_ROLES_PATH="$here/roles"

step() { printf '\n==> %s\n' "$*"; }

run_molecule() {  # the test-host image, then every scenario, MOLECULE_JOBS (default 2) at a time
  step "test-host image"
  "$here/scripts/build-testhost-image.sh" || return 1
  local logs jobs_max=${MOLECULE_JOBS:-2} name scenario
  logs=$(mktemp -d /tmp/bangka-molecule-XXXXXX)
  local -A pids=() started=()
  local -a failed=()
  finish() {  # print one finished scenario's log and note a failure
    local name=$1 rc=$2
    local took=$(( SECONDS - ${started[$name]} ))
    step "molecule test -s $name: $([ "$rc" = 0 ] && echo passed || echo "FAILED (rc $rc)") in ${took} s"
    cat "$logs/$name.log"
    [ "$rc" = 0 ] || failed+=("$name")
  }
  reap() {  # wait for any one scenario to end
    local pid rc name
    wait -n -p pid "${!pids[@]}" && rc=0 || rc=$?
    name=${pids[$pid]}
    unset "pids[$pid]"
    finish "$name" "$rc"
  }
  # The longest scenarios first, so the slots stay full to the end (measured beside the
  # pytest run: backup ~26 min, arsip ~19, backup_faults ~11, backup_db ~10); every other
  # scenario after them, by name.
  local -a scenarios=(backup arsip backup_faults backup_db)
  for scenario in molecule/*/molecule.yml; do
    name=$(basename "$(dirname "$scenario")")
    [[ " testhost ${scenarios[*]} " == *" $name "* ]] || scenarios+=("$name")
  done
  for name in "${scenarios[@]}"; do
    [ -f "molecule/$name/molecule.yml" ] || continue
    while [ "${#pids[@]}" -ge "$jobs_max" ]; do reap; done
    echo "starting molecule test -s $name"
    started[$name]=$SECONDS
    molecule test -s "$name" > "$logs/$name.log" 2>&1 &
    pids[$!]=$name
  done
  while [ "${#pids[@]}" -gt 0 ]; do reap; done
  rm -rf "$logs"
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "molecule scenarios failed: ${failed[*]}"
    return 1
  fi
}

molecule_pid=
if [ "${1:-}" != "--no-molecule" ]; then
  molecule_log=$(mktemp /tmp/bangka-molecule-all-XXXXXX)
  set -m  # its own process group, so an interrupted run stops the scenarios too
  ( set +e; run_molecule ) > "$molecule_log" 2>&1 &
  molecule_pid=$!
  set +m
  trap 'kill -- "-$molecule_pid" 2>/dev/null; exit 130' INT TERM
  echo "Molecule runs in the background; its log is printed when it ends."
fi

failed_steps=()
check() {  # run one step; note a failure and go on
  local name=$1; shift
  step "$name"
  local t0=$SECONDS
  if "$@"; then echo "($name: $(( SECONDS - t0 )) s)"; else failed_steps+=("$name"); fi
}
secrets() {
  local -a tracked
  mapfile -t tracked < <(git ls-files)
  python -m bangka_ops.access.secretscan "${tracked[@]}" \
    && detect-secrets-hook --baseline .secrets.baseline "${tracked[@]}"
}
check "yamllint" yamllint --strict .
check "ansible-lint (production profile)" ansible-lint
check "ruff" ruff check .
check "ruff format" ruff format --check .
check "secrets (vault values, private keys, detect-secrets against .secrets.baseline)" secrets
check "mypy" mypy
check "pytest" pytest

if [ -n "$molecule_pid" ]; then
  step "waiting for Molecule"
  t0=$SECONDS
  if wait "$molecule_pid"; then rc=0; else rc=$?; fi
  echo "(waited $(( SECONDS - t0 )) s after pytest)"
  cat "$molecule_log"
  rm -f "$molecule_log"
  [ "$rc" = 0 ] || failed_steps+=("molecule")
fi

if [ "${#failed_steps[@]}" -gt 0 ]; then
  step "FAILED: ${failed_steps[*]}"
  exit 1
fi
step "all tests passed"
