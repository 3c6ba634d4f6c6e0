#!/usr/bin/env bash
# The whole test suite: lint, pytest (real Borg, real receivers), Molecule on podman test hosts.
#   scripts/test.sh                 everything (what CI runs)
#   scripts/test.sh --no-molecule   lint + pytest only (quick, no containers)
set -euo pipefail
shopt -s nullglob
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/setup.sh" --test
export PATH="$here/.venv/bin:$PATH"
export CONTAINERS_CONF="$here/molecule/testhost/containers.conf"
export ANSIBLE_ROLES_PATH="$here/roles"

step() { printf '\n==> %s\n' "$*"; }

step "yamllint"
yamllint --strict .
step "ansible-lint (production profile)"
ansible-lint
step "ruff"
ruff check .
ruff format --check .
step "secrets (vault values, private keys, detect-secrets against .secrets.baseline)"
mapfile -t tracked < <(git ls-files)
python -m bangka_ops.access.secretscan "${tracked[@]}"
detect-secrets-hook --baseline .secrets.baseline "${tracked[@]}"
step "mypy"
mypy
step "pytest"
pytest

if [ "${1:-}" != "--no-molecule" ]; then
  step "test-host image"
  "$here/scripts/build-testhost-image.sh"
  # Scenarios are independent (own hosts, own network): run MOLECULE_JOBS of them at a time
  # (default 2; the test hosts mostly wait on package downloads), each into its own log,
  # printed whole when it ends.
  logs=$(mktemp -d /tmp/bangka-molecule-XXXXXX)
  jobs_max=${MOLECULE_JOBS:-2}
  declare -A pids=()
  failed=()
  declare -A started=()
  finish() {  # print one finished scenario's log and note a failure
    local name=$1 rc=$2
    local took=$(( SECONDS - ${started[$name]} ))
    step "molecule test -s $name: $([ "$rc" = 0 ] && echo passed || echo "FAILED (rc $rc)") in ${took} s"
    cat "$logs/$name.log"
    [ "$rc" = 0 ] || failed+=("$name")
  }
  reap() {  # wait for any one scenario to end
    local pid name rc
    wait -n -p pid "${!pids[@]}" && rc=0 || rc=$?
    name=${pids[$pid]}
    unset "pids[$pid]"
    finish "$name" "$rc"
  }
  # The longest scenarios first, so the slots stay full to the end (measured: backup is the
  # longest, then arsip and backup_faults); every other scenario after them, by name.
  scenarios=(backup arsip backup_faults)
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
    echo "molecule scenarios failed: ${failed[*]}" >&2
    exit 1
  fi
fi
step "all tests passed"
