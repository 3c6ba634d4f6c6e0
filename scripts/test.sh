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
  for scenario in molecule/*/molecule.yml; do
    name=$(basename "$(dirname "$scenario")")
    step "molecule test -s $name"
    molecule test -s "$name"
  done
fi
step "all tests passed"
